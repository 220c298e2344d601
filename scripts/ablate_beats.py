"""Which context features help? A DS1-only ablation of the beat model's inputs.

    nice python scripts/ablate_beats.py --data-dir ../shared/data/mitdb

Each variant is a set of context features (monitor.classify.features.CANDIDATE_FEATURES);
for each, the student network is trained on the labels alone in the same patient-wise
3-fold cross-validation inside DS1 that scripts/train.py uses, and scored on the
held-out patients' beats (out of fold), before and after the class offsets that
scripts/train.py would choose on them, and with the S rule of scripts/train.py on top
(its thresholds chosen on the other folds' beats: nested). DS2 is never read. The figures go to
models/beat-ablation-cv.json, which scripts/evaluate_beats.py renders in docs/MODEL.md.

Each run's out-of-fold logits are kept in --oof-dir under a key of everything that
determines them (features, epochs, seed, wave dropout, the training and feature code,
the prepared beats' code and data folder, torch's version), so a kept file is reused
only when a fresh run would give the same logits. (The key was once the variant, run
number and epochs alone: logits trained by older code were silently reused.)

--ensemble K also scores students averaged: the runs taken K at a time in order
(disjoint groups: with 6 runs and K = 2, runs 0+1, 2+3, 4+5), their out-of-fold
logits averaged (logits, not probabilities: the exported graph would average logits
before the class offsets and the S rule), then offsets and the nested S rule chosen
exactly as for a single run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import fcntl
import hashlib
import inspect
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import cast

import numpy as np
import torch
from scipy.stats import rankdata

sys.path.insert(0, str(Path(__file__).resolve().parent))
import beatdata
import train as tr

from monitor.classify import features as feat
from monitor.classify.features import CANDIDATE_FEATURES
from monitor.evaluation import DS1

BASE = CANDIDATE_FEATURES[:10]
"""The context of feature version 3 (the model shipped before this ablation)."""
LOCAL = ("log_rr_pre_over_local", "log_rr_post_over_local")
IRREGULAR = ("rr_irregularity",)
TEMPLATE = ("template_corr", "log_template_distance")
ADAPTIVE = (
    "p_corr",
    "log_p_energy_over_template",
    "qrs_corr",
    "log_qrs_distance",
    "log_rr_pre_over_normal",
)


def without_post(names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(n for n in names if "post" not in n)


ALL_NO_POST = without_post(BASE + LOCAL + IRREGULAR + TEMPLATE)
"""The context of feature version 4 (shipped before feature version 5)."""

VARIANTS: dict[str, tuple[tuple[str, ...], str]] = {
    "base": (BASE, "feature version 3 context (RR before/after vs running averages)"),
    "local": (BASE + LOCAL, "+ RR before/after relative to the median of the last 10 RR"),
    "irregular": (BASE + IRREGULAR, "+ irregularity of the last 9 RR"),
    "template": (BASE + TEMPLATE, "+ correlation and distance to the patient's template"),
    "all": (BASE + LOCAL + IRREGULAR + TEMPLATE, "all of the above"),
    "all-no-post": (
        without_post(BASE + LOCAL + IRREGULAR + TEMPLATE),
        "feature version 4: RR before against running averages, the local median and the "
        "previous RR, irregularity, amplitude, template correlation and distance; no RR after",
    ),
    "base-no-post": (without_post(BASE), "feature version 3 without RR after"),
    "irregular-no-post": (without_post(BASE + IRREGULAR), "+ irregularity, without RR after"),
    "local-irregular": (BASE + LOCAL + IRREGULAR, "+ local RR median and irregularity"),
    "local-irregular-no-post": (
        without_post(BASE + LOCAL + IRREGULAR),
        "+ local RR median and irregularity, without RR after",
    ),
    "p-wave": (
        (*ALL_NO_POST, "p_corr", "log_p_energy_over_template"),
        "all-no-post + P-wave region vs the template (correlation, energy ratio)",
    ),
    "qrs": (
        (*ALL_NO_POST, "qrs_corr", "log_qrs_distance"),
        "all-no-post + QRS region vs the template (correlation, distance)",
    ),
    "normal-rr": (
        (*ALL_NO_POST, "log_rr_pre_over_normal"),
        "all-no-post + RR before over the running average of non-premature RR",
    ),
    "rule-inputs": (
        (*ALL_NO_POST, "log_rr_pre_over_normal", "qrs_corr"),
        "all-no-post + RR before over the usual RR and QRS correlation (the S rule's inputs)",
    ),
    "rule-inputs-pr": (
        (*ALL_NO_POST, "log_rr_pre_over_normal", "qrs_corr", "pr_detrended_corr"),
        "rule-inputs + the beat's PR stretch (0.30-0.08 s before R, line removed) against "
        "the template's (correlation)",
    ),
    "rule-inputs-prs": (
        (*ALL_NO_POST, "log_rr_pre_over_normal", "qrs_corr", "pr_short_corr"),
        "rule-inputs + the end of the beat's PR stretch (0.15-0.08 s before R, line "
        "removed) against the template's (correlation)",
    ),
    "adaptive": (
        ALL_NO_POST + ADAPTIVE,
        "all-no-post + P-wave, QRS and usual-RR features (feature version 5 candidates)",
    ),
}


def roc_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve of `score` for the `positive` beats (Mann-Whitney:
    the chance a positive beat scores above a negative one, ties counting half)."""
    ranks = rankdata(score)
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


P_CHECK_STRETCHES = ((39, 10), (33, 10), (26, 10), (26, 5), (20, 10), (20, 5))
"""(start, end) samples before the R-peak of the PR stretches the P-wave check compares."""


def pwave_check(records: list[beatdata.RecordBeats]) -> None:
    """Does the P-wave feature separate S beats from early N beats? (no training)

    ROC AUC of S against N, lower correlation meaning S, among the beats with RR before
    under 0.8 x the patient's usual RR: all of them, those in a regular rhythm, and
    those the S rule would call S with its shipped-like thresholds (irregularity under
    0.1, QRS correlation above 0.8); then which stretch each fold's other two folds pick.
    """
    data = tr.build_beats(records, (*tr.RULE_FEATURES, "p_corr"))
    c, y = data.context, data.label
    early = (y <= 1) & (c[:, 0] < np.log(0.8))
    regular = early & (c[:, 1] < 0.1)
    fires = regular & (c[:, 2] > 0.8)
    w, t = data.wave[:, 0].astype(np.float64), data.wave[:, 1].astype(np.float64)
    columns = {"p_corr (0.31-0.08 s, mean removed)": c[:, 3]}
    for start, end in P_CHECK_STRETCHES:
        sl = slice(feat.WINDOW_BEFORE - start, feat.WINDOW_BEFORE - end)
        corr = feat.template_corr_detrended(w[:, sl], t[:, sl])
        columns[f"{start / feat.INPUT_FS:.2f}-{end / feat.INPUT_FS:.2f} s, line removed"] = corr
    print(
        f"S / N beats: early {int((y[early] == 1).sum())} / {int((y[early] == 0).sum())}, "
        f"regular {int((y[regular] == 1).sum())} / {int((y[regular] == 0).sum())}, "
        f"rule fires {int((y[fires] == 1).sum())} / {int((y[fires] == 0).sum())}"
    )
    for name, v in columns.items():
        aucs = [roc_auc(y[m] == 1, -v[m]) for m in (early, regular, fires)]
        print(f"  {name:40s} AUC early {aucs[0]:.3f}  regular {aucs[1]:.3f}  fires {aucs[2]:.3f}")
    for k, fold in enumerate(tr.FOLDS):
        m = fires & ~np.isin(data.record, fold)
        best = max(columns, key=lambda n: roc_auc(y[m] == 1, -columns[n][m]))
        print(f"  fold {k + 1}: the other folds pick {best}")


def oof_key(
    names: tuple[str, ...], epochs: int, seed: int, wave_dropout: float, data_dir: Path
) -> str:
    """A digest of everything a run's out-of-fold logits depend on (see the docstring)."""
    digest = hashlib.sha256()
    digest.update(json.dumps([list(names), epochs, seed, wave_dropout, torch.__version__]).encode())
    digest.update(str(data_dir.resolve()).encode())
    digest.update(CODE_STATE.encode())
    return digest.hexdigest()[:16]


def score_run(
    labels: np.ndarray, oof: np.ndarray, rule_data: tr.BeatSet, rule_p: str | None
) -> dict[str, object]:
    """Out-of-fold figures of one run (or of an averaged group of runs): offsets chosen
    by each rule, then the S rule with its thresholds nested in the folds."""
    run: dict[str, object] = {}
    for rule in ("bar", "macro"):
        offsets = tr.choose_offsets(labels, oof, rule)
        run[f"offsets_{rule}"] = offsets.tolist()
        run[f"oof_{rule}"] = {
            k: round(v, 2) for k, v in tr.scores(labels, (oof + offsets).argmax(1)).items()
        }
    pred = (oof + tr.choose_offsets(labels, oof, "bar")).argmax(1)
    nested, _ = tr.nested_rule_scores(rule_data, pred)
    run["oof_rule"] = {k: round(v, 2) for k, v in nested.items()}
    if rule_p:
        nested_p, chosen_p = tr.nested_rule_scores(rule_data, pred, rule_p)
        run["oof_rule_p"] = {k: round(v, 2) for k, v in nested_p.items()}
        run["rule_p_thresholds"] = chosen_p
    run["bar_score"] = {
        rule: tr.offset_score(cast(dict, run[f"oof_{rule}"]), "bar") for rule in ("bar", "macro")
    }
    return run


def summarise(runs: list[dict[str, object]], kinds: tuple[str, ...]) -> dict[str, object]:
    """Mean figures over runs, the spread of macro F1 and the mean "bar" score per kind."""
    summary: dict[str, object] = {}
    for rule in kinds:
        figs = [cast(dict, run[f"oof_{rule}"]) for run in runs]
        summary[rule] = {k: round(float(np.mean([f[k] for f in figs])), 2) for k in figs[0]}
        spread = float(np.ptp([f["macro_f1"] for f in figs]))
        summary[f"{rule}_macro_f1_spread"] = round(spread, 2)
        summary[f"{rule}_bar_score"] = round(
            float(np.mean([tr.offset_score(f, "bar") for f in figs])), 2
        )
    return summary


ENSEMBLE_MARGIN = 1.0
"""Points of mean score (nested, with the S rule) an ensemble must gain over single runs."""


def ensemble_decision(singles: list[float], groups: list[float]) -> dict[str, object]:
    """The rule fixed before any ensemble was scored: ship averaged students only if the
    ensembles' mean score beats the single runs' by ENSEMBLE_MARGIN points and the worst
    ensemble scores at least the median single run (DS1 out of fold, nested S rule)."""
    gain = float(np.mean(groups) - np.mean(singles))
    worst, median = float(min(groups)), float(np.median(singles))
    return {
        "rule": f"mean gain >= {ENSEMBLE_MARGIN} and worst ensemble >= median single run "
        "(score with the S rule, nested)",
        "single_scores": [round(v, 2) for v in singles],
        "ensemble_scores": [round(v, 2) for v in groups],
        "mean_gain": round(gain, 2),
        "worst_ensemble": round(worst, 2),
        "median_single": round(median, 2),
        "passes": bool(gain >= ENSEMBLE_MARGIN and worst >= median),
    }


def store(out: Path, name: str, entry: dict[str, object]) -> None:
    """Merge one variant into the JSON as it is on disk now (under a lock, so that two
    runs of this script over different variants do not overwrite each other)."""
    tag = hashlib.sha256(str(out.resolve()).encode()).hexdigest()[:12]
    with open(Path(tempfile.gettempdir()) / f"ecgmon-ablation-{tag}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        results = json.loads(out.read_text()) if out.is_file() else {}
        results.setdefault("variants", {})[name] = entry
        results.update(
            folds=[list(f) for f in tr.FOLDS],
            date=dt.date.today().isoformat(),
            script="scripts/ablate_beats.py",
        )
        out.write_text(json.dumps(results, indent=1) + "\n")


def run_variant(
    records: list[beatdata.RecordBeats],
    names: tuple[str, ...],
    epochs: int,
    seed: int,
    wave_dropout: float = 0.0,
) -> np.ndarray:
    """Out-of-fold logits of the labels-only student for one feature set."""
    data = tr.build_beats(records, names)
    ctx_mean = data.context.mean(0)
    ctx_std = data.context.std(0) + 1e-3
    oof = np.zeros((data.label.size, len(tr.BEAT_CLASSES)), np.float32)
    for k, fold in enumerate(tr.FOLDS):
        held = np.isin(data.record, fold)
        s = seed + 20 + k
        model = tr.new_student(s, ctx_mean, ctx_std, wave_dropout)
        model = tr.train(model, data.subset(~held), epochs, s, f"fold {k + 1}")
        va = data.subset(held)
        oof[held] = tr.predict_logits(model, va.wave, va.context)
    return oof


CODE_STATE = (
    beatdata.code_key(
        (
            *beatdata.CODE_FILES,
            Path(tr.__file__),
            Path(feat.__file__),
        )
    )
    + hashlib.sha256(inspect.getsource(run_variant).encode()).hexdigest()[:12]
)
"""The code a run's logits depend on, read when this script starts (an edit made while
it runs does not change what it runs)."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data/mitdb"))
    parser.add_argument("--cache-dir", type=Path, default=Path("/tmp/ecgmon-beat-cache"))
    parser.add_argument("--out", type=Path, default=tr.REPO / "models" / "beat-ablation-cv.json")
    parser.add_argument(
        "--oof-dir",
        type=Path,
        default=Path("/tmp/ecgmon-ablation"),
        help="out-of-fold logits of each run are kept here and reused "
        "(same features, epochs, seed, wave dropout, code and data) unless --retrain",
    )
    parser.add_argument(
        "--ensemble",
        type=int,
        nargs="*",
        default=[],
        metavar="K",
        help="also score the runs averaged K at a time (disjoint groups, logits averaged)",
    )
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument(
        "--wave-dropout",
        type=float,
        default=0.0,
        help="share of training beats whose wave branch is zeroed (modality dropout)",
    )
    parser.add_argument("--seed", type=int, default=20260407)
    parser.add_argument("--seeds", type=int, default=3, help="training runs per variant")
    parser.add_argument(
        "--rule-p",
        choices=("p_corr", "pr_detrended_corr", "pr_short_corr"),
        default=None,
        help="also score the S rule with a fourth, P-wave condition on this feature "
        "(the beat's P-wave stretch unlike the template's; thresholds nested as well)",
    )
    parser.add_argument(
        "--pwave-check",
        action="store_true",
        help="only print how well P-wave correlations separate S from early N beats (AUC)",
    )
    parser.add_argument(
        "--retrain",
        action="store_true",
        help="train again even where --oof-dir holds a run's logits",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    records = beatdata.load(args.data_dir, DS1, args.cache_dir)
    if args.pwave_check:
        pwave_check(records)
        return 0
    labels = tr.build_beats(records, ()).label
    # The S rule's inputs for every beat, whatever the variant's network reads: the
    # rule is scored on top of each run's decisions, thresholds nested in the folds.
    rule_data = tr.build_beats(records, tr.RULE_FEATURES + ((args.rule_p,) if args.rule_p else ()))
    kinds = ("bar", "macro", "rule") + (("rule_p",) if args.rule_p else ())
    args.oof_dir.mkdir(parents=True, exist_ok=True)
    suffix = f"-wd{args.wave_dropout:g}" if args.wave_dropout else ""
    for variant in args.variants:
        names, what = VARIANTS[variant]
        name = variant + suffix
        if suffix:
            what += f", wave branch dropped for {args.wave_dropout:.0%} of training beats"
        t0 = time.time()
        print(f"variant {name}: {what}", file=sys.stderr)
        runs = []
        logits = []
        for r in range(args.seeds):
            seed = args.seed + 1000 * r
            key = oof_key(names, args.epochs, seed, args.wave_dropout, args.data_dir)
            path = args.oof_dir / f"{name}-e{args.epochs}-s{seed}-{key}.npz"
            trained = args.retrain or not path.is_file()
            if trained:
                oof = run_variant(records, names, args.epochs, seed, args.wave_dropout)
                np.savez(path, logits=oof, label=labels)
            else:
                with np.load(path) as z:
                    oof = z["logits"]
            logits.append(oof)
            runs.append(
                {"seed": seed, "oof_key": key, "trained": trained}
                | score_run(labels, oof, rule_data, args.rule_p)
            )
        summary = summarise(runs, kinds)
        entry: dict[str, object] = {
            "what": what,
            "features": list(names),
            "runs": runs,
            "epochs": args.epochs,
            "mean": summary,
            "seconds": round(time.time() - t0),
        }
        ensembles: dict[str, object] = {}
        for k in args.ensemble:
            groups = [list(range(i, i + k)) for i in range(0, args.seeds - k + 1, k)]
            members = []
            for g in groups:
                avg = np.mean([logits[i] for i in g], axis=0)
                members.append({"runs": g} | score_run(labels, avg, rule_data, args.rule_p))
            singles = [tr.offset_score(cast(dict, r["oof_rule"]), "bar") for r in runs]
            scored = [tr.offset_score(cast(dict, m["oof_rule"]), "bar") for m in members]
            ensembles[str(k)] = {
                "groups": members,
                "mean": summarise(members, kinds),
                "decision": ensemble_decision(singles, scored),
            }
            print(
                f"  {name}, {k} averaged: scores {[round(v, 2) for v in scored]} "
                f"(single runs {[round(v, 2) for v in singles]})",
                file=sys.stderr,
            )
        if ensembles:
            entry["ensembles"] = ensembles
        m = cast(dict, summary["bar"])
        print(
            f"  {name}: macro F1 {m['macro_f1']:.2f} (spread {summary['bar_macro_f1_spread']}) "
            f" N Se {m['N_se']:.1f}  S {m['S_se']:.1f}/{m['S_ppv']:.1f}  "
            f"V {m['V_se']:.1f}/{m['V_ppv']:.1f}  F {m['F_se']:.1f}/{m['F_ppv']:.1f}"
            f"; with the S rule: score {summary['rule_bar_score']} "
            f"(spread {summary['rule_macro_f1_spread']})"
            + (
                f"; with the P-wave condition ({args.rule_p}): score "
                f"{summary['rule_p_bar_score']} (spread {summary['rule_p_macro_f1_spread']})"
                if args.rule_p
                else ""
            ),
            file=sys.stderr,
        )
        store(args.out, name, entry)
    return 0


if __name__ == "__main__":
    sys.exit(main())
