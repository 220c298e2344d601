"""Score ecgmon's beat classifier on MIT-BIH DS2 (inter-patient) and write docs/MODEL.md.

    python scripts/evaluate_beats.py --data-dir ../shared/data/mitdb

For every model in models/ (teacher, students, pruned, int8):
* end to end, as a user gets it: lead MLII at 130 Hz, runtime filter, ecgmon's own
  streaming QRS detector, then the classifier; every reference beat matched to a
  detection within 150 ms; an undetected reference beat is missed for its class, an
  extra detection is a false positive of the class it was given;
* the classifier alone on the reference beat positions (how most papers report it);
* latency per beat: the model alone, in batches of 1024 beats, one onnxruntime thread,
  at the graph optimisation level the runtime uses (monitor.classify.model).
Nothing here feeds back into training: DS2 is read only by this script.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import beatdata

from monitor.classify import features as feat
from monitor.classify.beat import BEAT_CLASSES
from monitor.classify.classifier import classify_beats
from monitor.classify.model import DEFAULT_MODEL, GRAPH_OPTIMIZATION, BeatModel, model_dir
from monitor.classify.scoring import accuracy, class_scores, confusion, macro_f1
from monitor.evaluation import DS2

REPO = Path(__file__).resolve().parents[1]
VARIANTS = (
    ("beat-teacher-fp32", "teacher, float32"),
    ("beat-student-nokd-fp32", "student without distillation, float32"),
    ("beat-student-kd-fp32", "student distilled from the teacher, float32"),
    ("beat-student-fp32", "the student chosen by DS1 cross-validation, float32"),
    ("beat-student-pruned-fp32", "chosen student, 50% of weights pruned, float32"),
    ("beat-student-int8", "chosen student, int8 (shipped)"),
    ("beat-student-pruned-int8", "chosen student, pruned, int8"),
)
BAR = (
    ("V", "se", 92.0),
    ("V", "ppv", 90.0),
    ("S", "se", 80.0),
    ("S", "ppv", 55.0),
    ("N", "se", 97.0),
)
LABEL_INDEX = {c: i for i, c in enumerate(BEAT_CLASSES)}


@dataclass
class Result:
    name: str
    what: str
    params: int
    nonzero: int
    size: int
    gz: int
    e2e: np.ndarray
    ref: np.ndarray
    per_record: dict[str, np.ndarray]
    latency_us: float
    pipeline_us: float


def labels_of(beats: list) -> np.ndarray:
    return np.array([LABEL_INDEX[b.label] for b in beats], dtype=np.int64)


def latency_us(model: BeatModel, wave: np.ndarray, context: np.ndarray) -> float:
    """Median over repeats of the time per beat for a batch of 1024 beats."""
    wave, context = wave[:1024], context[:1024]
    model.predict(wave, context)
    times = []
    for _ in range(7):
        t0 = time.perf_counter()
        model.predict(wave, context)
        times.append(time.perf_counter() - t0)
    return 1e6 * float(np.median(times)) / len(wave)


def evaluate(name: str, what: str, records: list[beatdata.RecordBeats], folder: Path) -> Result:
    model = BeatModel(folder / f"{name}.onnx", threads=1)
    k = len(BEAT_CLASSES)
    e2e = np.zeros((k + 1, k + 1), np.int64)
    ref = np.zeros((k + 1, k + 1), np.int64)
    per_record = {}
    for rb in records:
        det = labels_of(classify_beats(rb.filtered, rb.detected, model=model))
        cm = confusion(rb.ref_label, det, rb.match)
        per_record[rb.name] = cm
        e2e += cm
        at_ref = labels_of(classify_beats(rb.filtered, rb.ref_130, model=model))
        ref += confusion(rb.ref_label, at_ref, np.arange(rb.ref_label.size))
    wave, context = feat.featurize(records[0].filtered, records[0].detected)
    t0 = time.process_time()
    classify_beats(records[0].filtered, records[0].detected, model=model)
    pipeline = 1e6 * (time.process_time() - t0) / max(1, records[0].detected.size)
    path = model.path
    meta = model.metadata
    return Result(
        name,
        what,
        int(meta["parameters"]),
        int(meta["nonzero_parameters"]),
        path.stat().st_size,
        len(gzip.compress(path.read_bytes(), 9)),
        e2e,
        ref,
        per_record,
        latency_us(model, wave, context),
        pipeline,
    )


LATENCY_RECORDS = 6
"""DS2 records streamed for the R-peak-to-class latency figure."""
LATENCY_CHUNK_S = 0.25
"""Chunk of samples fed at a time, as the daemon gets them from the strap."""


def streaming_latency(data_dir: Path, names: list[str]) -> np.ndarray:
    """Seconds from each R-peak to its class, streaming as the daemon does.

    The raw 130 Hz signal goes in chunks through ecgmon's streaming QRS detector and
    filter and the shipped model's `BeatClassifier`; a beat's latency is the stream time
    at the end of the chunk that returned its class, minus the time of its R-peak.
    """
    from monitor.classify.classifier import BeatClassifier
    from monitor.evaluation import load_reference
    from monitor.signal import WORKING_FS
    from monitor.signal.filters import ecg_filter
    from monitor.signal.qrs import QrsDetector
    from monitor.signal.resample import resample_record

    out: list[float] = []
    for name in names:
        ref = load_reference(data_dir / name)
        x = resample_record(ref.samples_uv, ref.fs, WORKING_FS)
        detector, ecg, clf = QrsDetector(WORKING_FS), ecg_filter(WORKING_FS), BeatClassifier()
        step = round(LATENCY_CHUNK_S * WORKING_FS)
        for start in range(0, x.size, step):
            chunk = x[start : start + step]
            beats = clf.process(ecg.process(chunk), detector.process(chunk))
            now = (start + chunk.size) / WORKING_FS
            out += [now - b.time_s for b in beats]
    return np.asarray(out)


def _num(x: float) -> float | None:
    return None if np.isnan(x) else round(x, 2)


def metrics(cm: np.ndarray) -> dict[str, object]:
    """Per-class figures in percent; None where undefined (nothing predicted)."""
    return {
        "classes": {
            s.label: {"se": _num(s.se), "ppv": _num(s.ppv), "f1": _num(s.f1), "beats": s.support}
            for s in class_scores(cm)
            if s.support
        },
        "accuracy": round(accuracy(cm), 2),
        "macro_f1_NSVF": round(macro_f1(cm), 2),
    }


def record_metrics(meta_path: Path, r: Result) -> None:
    """Add the DS2 figures to a model's metadata (the ONNX file and its sha256 unchanged)."""
    meta = json.loads(meta_path.read_text())
    meta["evaluation"] = {
        "data": "MIT-BIH DS2 (de Chazal 2004), lead MLII at 130 Hz",
        "script": "scripts/evaluate_beats.py",
        "date": dt.date.today().isoformat(),
        "onnxruntime": {
            "version": ort_version(),
            "graph_optimization_level": GRAPH_OPTIMIZATION,
            "cpu": (platform.processor() or platform.machine()) + cpu_int8(),
        },
        "end_to_end": metrics(r.e2e),
        "reference_positions": metrics(r.ref),
    }
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")


def fmt(x: float) -> str:
    return "-" if np.isnan(x) else f"{x:.1f}"


def class_table(cm: np.ndarray) -> list[str]:
    lines = ["| class | beats | Se % | +P % | F1 % |", "| --- | ---: | ---: | ---: | ---: |"]
    for s in class_scores(cm):
        lines.append(f"| {s.label} | {s.support} | {fmt(s.se)} | {fmt(s.ppv)} | {fmt(s.f1)} |")
    lines.append(f"| accuracy | {int(cm.sum())} | | | {accuracy(cm):.2f} |")
    lines.append(f"| macro F1 (N S V F) | | | | {macro_f1(cm):.2f} |")
    return lines


def confusion_table(cm: np.ndarray, e2e: bool) -> list[str]:
    cols = [*BEAT_CLASSES, "missed"] if e2e else list(BEAT_CLASSES)
    rows = [*BEAT_CLASSES, "extra"] if e2e else list(BEAT_CLASSES)
    lines = [
        "| reference \\ ecgmon | " + " | ".join(cols) + " |",
        "| --- |" + " ---: |" * len(cols),
    ]
    for i, r in enumerate(rows):
        cells = [
            str(int(cm[i, j])) if not (i == len(BEAT_CLASSES) and j == len(BEAT_CLASSES)) else ""
            for j in range(len(cols))
        ]
        lines.append(f"| {r} | " + " | ".join(cells) + " |")
    return lines


def get(cm: np.ndarray, label: str, key: str) -> float:
    s = next(s for s in class_scores(cm) if s.label == label)
    return float(getattr(s, key))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data/mitdb"))
    parser.add_argument("--models", type=Path, default=None, help="default: models/")
    parser.add_argument("--cache-dir", type=Path, default=Path("/tmp/ecgmon-beat-cache"))
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "MODEL.md")
    parser.add_argument(
        "--json", type=Path, default=None, help="also write the figures as JSON here"
    )
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument(
        "--records",
        nargs="*",
        default=None,
        help="score these records of --data-dir instead of DS2: any annotated WFDB "
        "database (implies --no-write)",
    )
    args = parser.parse_args(argv)
    if args.records:
        args.no_write = True
    # Any annotated WFDB database can be scored with --records (e.g. another database
    # the model never saw); without it the folder must be MIT-BIH, for DS2.
    wanted = args.records or ["100"]
    missing = [name for name in wanted if not (args.data_dir / f"{name}.hea").is_file()]
    if missing:
        what = "records " + " ".join(missing) if args.records else "MIT-BIH records"
        print(f"error: no {what} in {args.data_dir}", file=sys.stderr)
        return 2
    folder = args.models or model_dir()
    names = args.records or list(DS2)
    print(f"{len(names)} records from {args.data_dir}", file=sys.stderr)
    records = beatdata.load(args.data_dir, names, args.cache_dir)
    results = []
    for name, what in VARIANTS:
        if not (folder / f"{name}.onnx").is_file():
            print(f"  {name}: not in {folder}, skipped", file=sys.stderr)
            continue
        r = evaluate(name, what, records, folder)
        results.append(r)
        print(
            f"  {name}: e2e macroF1 {macro_f1(r.e2e):.2f}  "
            f"V {get(r.e2e, 'V', 'se'):.1f}/{get(r.e2e, 'V', 'ppv'):.1f}  "
            f"S {get(r.e2e, 'S', 'se'):.1f}/{get(r.e2e, 'S', 'ppv'):.1f}  "
            f"N {get(r.e2e, 'N', 'se'):.1f}  | ref macroF1 {macro_f1(r.ref):.2f}  "
            f"| {r.size} B  {r.latency_us:.1f} us/beat",
            file=sys.stderr,
        )
    shipped = next((r for r in results if r.name == DEFAULT_MODEL), None)
    if shipped is None:
        print(f"error: the shipped model {DEFAULT_MODEL} is not in {folder}", file=sys.stderr)
        return 2
    fp32 = next((r for r in results if r.name == "beat-student-fp32"), None)
    latency = streaming_latency(args.data_dir, names[:LATENCY_RECORDS])
    print(
        f"  R-peak to class: median {np.median(latency):.2f} s, "
        f"99th percentile {np.percentile(latency, 99):.2f} s",
        file=sys.stderr,
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    r.name: {
                        "e2e": r.e2e.tolist(),
                        "ref": r.ref.tolist(),
                        "per_record": {k: v.tolist() for k, v in r.per_record.items()},
                    }
                    for r in results
                },
                indent=1,
            )
        )
    if args.no_write:
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(report(results, shipped, fp32, folder, latency)) + "\n")
    for r in results:
        record_metrics(folder / f"{r.name}.json", r)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def _oof(cv: dict, key: str = "oof_after_offsets") -> str:
    s = cv.get(key)
    if not isinstance(s, dict):
        return "not recorded"
    return (
        f"N Se {s['N_se']:.1f}, S Se {s['S_se']:.1f} / +P {s['S_ppv']:.1f}, "
        f"V Se {s['V_se']:.1f} / +P {s['V_ppv']:.1f}"
    )


def ablation_table(folder: Path, meta_features: list[str]) -> list[str]:
    """The DS1-only feature ablation (scripts/ablate_beats.py), as a table."""
    path = folder / "beat-ablation-cv.json"
    if not path.is_file():
        return ["(no ablation recorded: run scripts/ablate_beats.py)"]
    ab = json.loads(path.read_text())
    plain = [v for v in ab["variants"] if "-wd" not in v]
    sizes = sorted({k for v in plain for k in ab["variants"][v].get("ensembles", {})}, key=int)
    lines = [
        f"Produced by `nice python {ab['script']} --data-dir ../shared/data/mitdb "
        f"--variants {' '.join(plain)} --seeds 6"
        + (f" --ensemble {' '.join(sizes)}" if sizes else "")
        + "` and, for the variants marked with a wave-branch dropout, the same with "
        "`--wave-dropout` (the context-only one, 1.0, with `--seeds 3`) "
        f"({ab['date']}; every run trained afresh: `--retrain` or a fresh `--oof-dir`): "
        "the student trained on labels alone in the same patient-wise "
        "3-fold DS1 cross-validation as scripts/train.py, several training runs (seeds) "
        "per variant; figures are out of fold (DS1 patients the run did not train on), "
        'after the class offsets chosen on them by the "bar" rule (macro F1 of N S V less '
        "2 points per point of N Se below 97, F offset <= 0), averaged over the runs. "
        '"With the S rule": the same decisions after the supraventricular rule of '
        "scripts/train.py (see What it is), its thresholds chosen for each fold on the other "
        "two folds' beats (nested, so the held-out patients choose nothing). Spread: max - "
        "min of the runs' macro F1. Score: macro F1 less the N Se penalty. DS2 is not read.",
        "",
        "| variant | context features | runs | macro F1 | spread | N Se | S Se | S +P | "
        "V Se | V +P | F Se | score | with the S rule: macro F1 | spread | N Se | S Se | "
        "S +P | score |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | "
        "---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, v in ab["variants"].items():
        mean = v["mean"]
        b, r = mean["bar"], mean.get("rule")
        rule_cells = (
            f"{r['macro_f1']:.2f} | {mean['rule_macro_f1_spread']:.2f} | {r['N_se']:.1f} | "
            f"{r['S_se']:.1f} | {r['S_ppv']:.1f} | {mean['rule_bar_score']:.2f}"
            if r
            else "- | - | - | - | - | -"
        )
        lines.append(
            f"| `{name}`: {v['what']} | {len(v['features'])} | {len(v['runs'])} | "
            f"{b['macro_f1']:.2f} | {mean['bar_macro_f1_spread']:.2f} | {b['N_se']:.1f} | "
            f"{b['S_se']:.1f} | {b['S_ppv']:.1f} | {b['V_se']:.1f} | {b['V_ppv']:.1f} | "
            f"{b['F_se']:.1f} | {mean['bar_bar_score']:.2f} | {rule_cells} |"
        )
    return [*lines, "", choice_note(ab, meta_features), *ensemble_note(ab, meta_features)]


def ort_version() -> str:
    import onnxruntime

    return str(onnxruntime.__version__)


def cpu_int8() -> str:
    """The x86 instruction sets onnxruntime's int8 kernels pick from, where Linux says."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return ""
    have = [f for f in ("avx2", "avx512bw", "avx512_vnni", "avx_vnni") if f in flags]
    if not have:
        return ""
    vnni = any("vnni" in f for f in have)
    return f", {' '.join(have).upper()}" + ("" if vnni else ", no VNNI")


def machine_note() -> list[str]:
    """What the int8 labels still depend on besides the model file, and what is fixed."""
    return [
        f"Every session is built at {GRAPH_OPTIMIZATION} (set in monitor/classify/model.py, "
        "not left to onnxruntime's default): onnxruntime runs the int8 QDQ graph as written "
        "(dequantise, float op, quantise), so the labels no longer depend on which integer "
        "kernels the CPU has (VNNI or not) nor on which fusions an onnxruntime version "
        "makes. Chosen on DS1 only (python scripts/compare_int8_paths.py, rule fixed "
        "before measuring: fewest int8-vs-float32 label differences, <= 20 us/beat, <= 2x "
        "the default's time): 24 differences in 51,355 DS1 beats against 29 at "
        "onnxruntime's default ORT_ENABLE_ALL, which fuses the QDQ groups into integer "
        "kernels, at about 1.9x its CPU time.",
        "What still depends on the machine: the float kernels (Conv, Gemm) pick their code "
        "by instruction set and onnxruntime version, so their sums can differ in the last "
        "bits, and a value on the edge of a quantisation step can round the other way; "
        "such beats are rare but the labels are not guaranteed bit for bit across CPUs.",
        "Before this level was set, the same int8 file (same sha256) at the default level "
        "scored V Se 89.8 / +P 84.9, S Se 48.1 / +P 41.4, macro F1 57.00 on this machine "
        "(card of commit 2c4e50c) and V Se 90.3 / +P 84.5, S Se 48.2 / +P 41.5, macro F1 "
        "57.03 in the card of 2026-11-25, on another machine; at the level now set, this "
        "machine gave the 2026-11-25 figures (2026-12-07).",
        "Cost in the streaming classifier over the 48 MIT-BIH records joined (24 h at 130 Hz, "
        "60 s frames, the replay's calls, levels interleaved call by call): 4.0 CPU s per "
        "24 h against 3.2 at the default level (2026-12-07, three runs 3.9-4.2 against "
        "3.1-3.4); 273 of its 109,814 beats change label between the two levels.",
    ]


def _pair_runs(groups: list[dict]) -> str:
    return ", ".join("+".join(str(i) for i in g["runs"]) for g in groups)


def ensemble_note(ab: dict, meta_features: list[str]) -> list[str]:
    """Students averaged (scripts/ablate_beats.py --ensemble), against single runs."""
    lines = []
    for name, v in ab["variants"].items():
        ens = v.get("ensembles")
        if not ens:
            continue
        single = v["mean"]["rule"]
        singles = next(iter(ens.values()))["decision"]["single_scores"]
        parts = []
        for k, e in sorted(ens.items(), key=lambda kv: int(kv[0])):
            d, m = e["decision"], e["mean"]["rule"]
            parts.append(
                f"{k} averaged (runs {_pair_runs(e['groups'])}): scores "
                f"{', '.join(f'{x:.2f}' for x in d['ensemble_scores'])} (mean "
                f"{np.mean(d['ensemble_scores']):.2f}, {d['mean_gain']:+.2f} on the single runs; "
                f"V Se {m['V_se']:.1f} / +P {m['V_ppv']:.1f}, S Se {m['S_se']:.1f} / +P "
                f"{m['S_ppv']:.1f}, macro F1 spread {e['mean']['rule_macro_f1_spread']:.2f})"
            )
        d2 = ens.get("2", {}).get("decision")
        verdict = ""
        if d2 is not None and v["features"] == meta_features:
            verdict = (
                " Decision rule, fixed before the measurement, on the pairs (two int8 students "
                f"fit in 64 KB): ship averaged students only if {d2['rule']}; median single "
                f"run {d2['median_single']:.2f}: "
                + (
                    "**met**."
                    if d2["passes"]
                    else f"**not met** (gain {d2['mean_gain']:+.2f}, worst pair "
                    f"{d2['worst_ensemble']:.2f})."
                )
            )
        lines.append(
            f"- `{name}` students averaged (out-of-fold logits of disjoint groups of runs "
            "averaged, then offsets and the nested S rule chosen on the average as for one "
            f"run), with the S rule: single runs score "
            f"{', '.join(f'{x:.2f}' for x in singles)} (mean "
            f"{v['mean']['rule_bar_score']:.2f}; V Se {single['V_se']:.1f} / +P "
            f"{single['V_ppv']:.1f}, S Se {single['S_se']:.1f} / +P {single['S_ppv']:.1f}, "
            f"macro F1 spread {v['mean']['rule_macro_f1_spread']:.2f}); "
            + "; ".join(parts)
            + "."
            + verdict
        )
    return ["", *lines] if lines else []


def choice_note(ab: dict, meta_features: list[str]) -> str:
    """Which variant the shipped model's features are, and how it ranks with the rule."""
    variants = ab["variants"]
    shipped = next(
        (n for n, v in variants.items() if v["features"] == meta_features and "-wd" not in n),
        None,
    )
    if shipped is None:
        return "The shipped model's context features are not among the variants above."
    score = {n: v["mean"].get("rule_bar_score", float("nan")) for n, v in variants.items()}
    rank = 1 + sum(s > score[shipped] for s in score.values())
    plain = variants[shipped]["mean"]["bar_bar_score"]
    spread = variants[shipped]["mean"]["bar_macro_f1_spread"]
    others = [s for n, s in score.items() if n != shipped]
    return (
        f"Shipped: `{shipped}` with the S rule (score {score[shipped]:.2f}, rank {rank} of "
        f"{len(score)}; the other variants with the rule {min(others):.2f} to "
        f"{max(others):.2f}). Without the rule the same runs score {plain:.2f}: the rule "
        f"adds {score[shipped] - plain:+.2f} points, against a run-to-run spread of "
        f"{spread:.2f} without it and {variants[shipped]['mean']['rule_macro_f1_spread']:.2f} "
        "with it."
    )


def _rule_lines(cv: dict) -> list[str]:
    """The S rule baked into the shipped model, with its DS1 figures (if there is one)."""
    shipped_rule = cv.get("rule_nokd" if cv.get("shipped_student") == "labels only" else "rule")
    if not isinstance(shipped_rule, dict):
        return []
    labels_only = cv.get("shipped_student") == "labels only"
    nested = "oof_nokd_after_rule_nested" if labels_only else "oof_after_rule_nested"
    plain = "oof_nokd_after_offsets" if labels_only else "oof_after_offsets"
    return [
        "- **The S rule (in the model graph)**: of the beats the network calls N or S, a "
        "beat is S when its RR before is under "
        f"{shipped_rule['rr_pre_over_usual_below']:g} x the patient's usual RR (the running "
        "average of the non-premature RR), the recent rhythm is regular (irregularity of the "
        f"last RR under {shipped_rule['irregularity_below']:g}; 10 means no condition) and "
        "its QRS is the patient's usual one (correlation with the template's QRS above "
        f"{shipped_rule['qrs_corr_above']:g}; -1 means no condition), N otherwise; V, F and Q "
        "stay the network's. Why: on DS1 cross-validation the networks separate S from N "
        "poorly and erratically (DS1's S beats come from a handful of patients, and the "
        "network learns their shapes rather than the prematurity S beats share across "
        "patients). The three thresholds are chosen on the DS1 out-of-fold decisions by "
        "the same bar score as the offsets, from a small grid; with the thresholds chosen "
        "for each fold on the other two folds (nested), out of fold: "
        f"{_oof(cv, nested)} (without the rule: {_oof(cv, plain)}).",
    ]


def _rule_gain(folder: Path) -> str:
    """How much the S rule adds in the DS1 ablation, against the run-to-run spread."""
    path = folder / "beat-ablation-cv.json"
    if not path.is_file():
        return "(no ablation recorded)"
    variants = json.loads(path.read_text())["variants"].values()
    ruled = [v["mean"] for v in variants if "rule_bar_score" in v["mean"]]
    if not ruled:
        return "(the ablation has no S rule figures)"
    gains = [m["rule_bar_score"] - m["bar_bar_score"] for m in ruled]
    spreads = [m["bar_macro_f1_spread"] for m in ruled]
    scores = [m["rule_bar_score"] for m in ruled]
    return (
        f"the rule lifts the out-of-fold score of every variant by {min(gains):.1f} to "
        f"{max(gains):.1f} points (run-to-run spread without it {min(spreads):.1f} to "
        f"{max(spreads):.1f}), while the variants with the rule lie within "
        f"{max(scores) - min(scores):.1f} points of each other."
    )


def _step11(folder: Path) -> str:
    """Fourth session: the ablation made reproducible, and students averaged (DS1 only)."""
    path = folder / "beat-ablation-cv.json"
    ab = json.loads(path.read_text()) if path.is_file() else {"variants": {}}
    decision = next(
        (
            v["ensembles"]["2"]["decision"]
            for n, v in ab["variants"].items()
            if n == "rule-inputs" and "2" in v.get("ensembles", {})
        ),
        None,
    )
    text = (
        "11. Reproducible ablation and students averaged (sixth session, DS1 only). The "
        "ablation's stored runs could not all be reproduced: scripts/ablate_beats.py kept "
        "each run's out-of-fold logits under a key of the variant, run number and epochs "
        "alone and reused them, so runs trained by earlier code were scored as if current "
        "(the prepared-beats cache was not at fault: its beats matched fresh ones "
        "bit for bit). The key now covers everything that determines the logits (features, "
        "epochs, seed, wave dropout, the training, feature and beat-preparation code, the "
        "data folder), the prepared-beats key covers the reference reader and matcher "
        "too, and the table above was regenerated with every run trained afresh (the "
        "previous table, commit cd07b3b, had `rule-inputs` at 77.21 with the rule, rank 3 "
        "of 5; its entries took 11-27 s for 3 to 6 runs: loaded, not trained). "
    )
    if decision is None:
        return text + "Students averaged: not measured."
    return text + (
        "Students averaged (`--ensemble`, above): the pairs of `rule-inputs` runs scored "
        f"{decision['mean_gain']:+.2f} points over single runs on average, worst pair "
        f"{decision['worst_ensemble']:.2f} against a median single run of "
        f"{decision['median_single']:.2f}. The rule fixed beforehand was "
        + (
            "met, but scripts/train.py still trains and ships one student"
            if decision["passes"]
            else "not met, so one student is shipped, as before, and DS2 was not run on "
            "averaged students"
        )
        + f" (rule: {decision['rule']})."
    )


def _s_note(shipped: Result) -> str:
    """Where the shipped model's DS2 S beats went (record 232 holds most of them)."""
    cm = shipped.e2e
    s_total = int(cm[1, :5].sum()) + int(cm[1, 5])
    parts = [f"Now N beats called F: {int(cm[0, 3]):,}; N beats called S: {int(cm[0, 1]):,}."]
    r232 = shipped.per_record.get("232")
    if r232 is not None and s_total:
        n232 = int(r232[1, :].sum())
        parts.append(
            f"Record 232 holds {n232:,} of the {s_total:,} DS2 S beats (its atrial premature "
            "beats follow long pauses and are barely premature); the shipped model finds "
            f"{100 * r232[1, 1] / max(1, n232):.1f} % of them, so DS2's S figures mostly "
            "measure that one patient."
        )
    return " ".join(parts)


def report(
    results: list[Result], shipped: Result, fp32: Result | None, folder: Path, latency: np.ndarray
) -> list[str]:
    meta = json.loads((folder / f"{shipped.name}.json").read_text())
    training = meta["training"]
    cv = training.get("cross_validation", {})
    shipped_offsets = cv.get(
        "offsets_nokd" if cv.get("shipped_student") == "labels only" else "offsets"
    )
    lines = [
        "# The beat classifier (model card)",
        "",
        "Produced by `python scripts/evaluate_beats.py --data-dir ../shared/data/mitdb` "
        f"on {dt.date.today().isoformat()}; do not edit by hand. The models are made by "
        "`nice python scripts/train.py --data-dir ../shared/data/mitdb` (train extra).",
        "",
        "## What it is",
        "",
        f"- **Shipped model**: `models/{shipped.name}.onnx`, {shipped.size:,} bytes, "
        f"{shipped.params:,} parameters, int8 static quantisation (QDQ, per-channel weights), "
        "run by onnxruntime on the CPU with one thread. Metadata (input spec, training data, "
        f"sha256) in `models/{shipped.name}.json`; the runtime refuses a model whose spec or "
        "checksum does not match.",
        "- **Classes**: ANSI/AAMI EC57 N (normal, bundle branch block, escape), S "
        "(supraventricular ectopic), V (ventricular ectopic), F (fusion), Q (unknown / paced).",
        f"- **Input**: one ECG lead at {meta['input_fs']:g} Hz (the strap's rate), filtered by "
        "the runtime 0.5-40 Hz filter; a window of "
        f"{meta['window_before']} samples before and {meta['window_after']} from the R-peak, "
        "divided by its own standard deviation, stacked with the running average of the "
        "patient's previous non-premature beats; plus a context vector of "
        f"{len(meta['context_features'])} patient-relative rhythm features "
        f"({', '.join(f'`{n}`' for n in meta['context_features'])}; see "
        "`monitor/classify/features.py`). All causal: "
        + (
            "a beat is classified once the next R-peak is known (its RR after is a feature)."
            if meta.get("needs_next_r_peak", True)
            else "the model does not read the RR after the beat, so a beat is classified as soon "
            "as its window is complete (0.43 s after the R-peak), without waiting for the "
            "next R-peak."
        ),
        "- **Architecture**: three 1-D convolution blocks (conv, batch norm, ReLU, max-pool) "
        "over the two-channel window, flattened and joined with the context vector, one "
        "hidden layer. The teacher has the same shape, wider.",
        f"- **Training data**: {training['data']}; records {' '.join(training['records'])}; "
        f"beats at ecgmon's own detections matched to the reference labels "
        f"({', '.join(f'{k} {v}' for k, v in training['beats'].items())}). "
        "Augmentation: R-peak jitter +-2 samples, time stretch (6 %), amplitude, baseline "
        "drift, noise, RR noise. Imbalance: 12,000 N beats drawn afresh each epoch, class "
        "weights the inverse square root of the class frequency. Distillation: the distilled "
        "student learns half from the labels, half from the teacher's softened outputs "
        "(T = 3); weights averaged (EMA) over the last steps. The shipped student is the "
        "distilled one only if it beats the same student trained on labels alone on the "
        "DS1 out-of-fold score (with the S rule, nested, where there is one); here: "
        f"**{cv.get('shipped_student', 'distilled')}** (out of fold, before the S rule, "
        f"distilled: {_oof(cv)}; labels alone: {_oof(cv, 'oof_nokd_after_offsets')}"
        + (
            f"; with the S rule, distilled: {_oof(cv, 'oof_after_rule_nested')}; labels "
            f"alone: {_oof(cv, 'oof_nokd_after_rule_nested')}"
            if "oof_after_rule_nested" in cv
            else ""
        )
        + ").",
        "- **Model selection without DS2**: every choice (features, offsets, distillation, "
        "epochs) was made on patient-wise 3-fold cross-validation inside DS1 "
        f"(folds {' / '.join(' '.join(f) for f in cv.get('folds', []))}); DS2 is read only for "
        'the figures below, with the final models (see "What was tried" for when it was '
        "run). Each fold's teacher and "
        "students are trained on two folds and scored on the held-out patients. Their "
        "out-of-fold outputs set the per-class logit offsets (prior correction) by the "
        '"bar" rule: maximise the out-of-fold macro F1 of N, S and V (the classes the bar '
        "is set on) less 2 points per point of N Se below 97 (the N bar), with the F offset "
        "kept at or below 0 (F may be made harder to call, never easier: the earlier rule "
        "picked +1.5 and thousands of normal beats became F): "
        f"N S V F Q = {shipped_offsets}; final teacher {cv.get('teacher_epochs')} epochs, "
        f"student {cv.get('student_epochs')}, as in the folds. The context features were "
        "chosen by the DS1 ablation below.",
        *_rule_lines(cv),
        "- **Test data**: DS2 (records " + " ".join(DS2) + "), read only by this script. "
        "Paced records 102 104 107 217 are in neither set.",
        "",
        "## How good: DS2, end to end, against ecgmon's bar",
        "",
        "End to end means what a user gets: ecgmon's streaming QRS detector on the 130 Hz "
        "signal, then the classifier; each reference beat matched to a detection within "
        "150 ms; an undetected beat counts as missed for its class, an extra detection as a "
        "false positive of the class it was given.",
        "",
        "| figure | bar | int8 (shipped) | float32 |",
        "| --- | ---: | ---: | ---: |",
    ]
    for label, key, bar in BAR:
        got = get(shipped.e2e, label, key)
        ref32 = f"{get(fp32.e2e, label, key):.1f}" if fp32 else "-"
        mark = "met" if got >= bar else "**missed**"
        name = "Se" if key == "se" else "+P"
        lines.append(f"| {label} {name} | >= {bar:g} | {got:.1f} ({mark}) | {ref32} |")
    if fp32:
        gap = macro_f1(fp32.e2e) - macro_f1(shipped.e2e)
        lines.append(
            f"| macro F1 (N S V F), int8 vs float32 | within 1 point | "
            f"{macro_f1(shipped.e2e):.2f} ({'met' if gap <= 1.0 else '**missed**'}, "
            f"{gap:+.2f}) | {macro_f1(fp32.e2e):.2f} |"
        )
    lines.append(
        f"| size on disk | <= 64 KB | {shipped.size / 1024:.1f} KB | {fp32.size / 1024:.1f} KB |"
        if fp32
        else ""
    )
    lines += [
        "",
        "Published inter-patient anchors (MIT-BIH DS2, mostly 360 Hz, often two leads, "
        "usually on reference positions): de Chazal et al. 2004 S 75.9 / 38.5, V 77.7 / 81.9 "
        "(Se / +P); Zhang et al. 2014 S 79.1 / 36.0, V 85.5 / 92.8. Intra-patient figures "
        "(98-99 % accuracy) are not comparable.",
        "",
        "## Every variant: the cost of each step towards small",
        "",
        "DS2, end to end unless marked. Latency: model alone, batches of 1024 beats, one "
        f"onnxruntime thread ({platform.processor() or platform.machine()}{cpu_int8()}, "
        f"Python {platform.python_version()}, onnxruntime {ort_version()}), graph "
        f"optimisation level {GRAPH_OPTIMIZATION}. " + " ".join(machine_note()),
        "",
        "| variant | parameters (non-zero) | bytes | gzip bytes | N Se | S Se | S +P | V Se | "
        "V +P | F Se | macro F1 | macro F1 at ref. positions | accuracy | us / beat |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | "
        "---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| `{r.name}` {r.what} | {r.params:,} ({r.nonzero:,}) | {r.size:,} | {r.gz:,} | "
            f"{fmt(get(r.e2e, 'N', 'se'))} | {fmt(get(r.e2e, 'S', 'se'))} | "
            f"{fmt(get(r.e2e, 'S', 'ppv'))} | {fmt(get(r.e2e, 'V', 'se'))} | "
            f"{fmt(get(r.e2e, 'V', 'ppv'))} | {fmt(get(r.e2e, 'F', 'se'))} | "
            f"{macro_f1(r.e2e):.2f} | {macro_f1(r.ref):.2f} | {accuracy(r.e2e):.2f} | "
            f"{r.latency_us:.1f} |"
        )
    lines += [
        "",
        "Pruning zeroes weights but the ONNX file stores them densely, so it shows only in "
        "the gzip column (what a compressed download would weigh).",
        "",
        f"Whole classifier path for the shipped model (causal features in Python plus the "
        f"model), record {DS2[0]}: {shipped.pipeline_us:.1f} us of CPU per beat, i.e. a "
        "30-minute record in well under a second.",
        "",
        "R-peak to class, live: the raw signal streamed in "
        f"{LATENCY_CHUNK_S:g} s chunks through ecgmon's streaming QRS detector, filter and "
        f"`BeatClassifier` (DS2 records {' '.join(DS2[:LATENCY_RECORDS])}, "
        f"{latency.size:,} beats): median {np.median(latency):.2f} s, 99th percentile "
        f"{np.percentile(latency, 99):.2f} s, longest {latency.max():.2f} s after the R-peak "
        "(the detector's own delay, the end of the beat's window and the chunking; "
        + (
            "plus the wait for the next R-peak)."
            if meta.get("needs_next_r_peak", True)
            else "no wait for the next R-peak)."
        ),
        "",
        f"## Shipped model `{shipped.name}` in detail",
        "",
        "### End to end (detector + classifier)",
        "",
        *class_table(shipped.e2e),
        "",
        *confusion_table(shipped.e2e, e2e=True),
        "",
        "### Classifier alone, on the reference beat positions",
        "",
        *class_table(shipped.ref),
        "",
        *confusion_table(shipped.ref, e2e=False),
        "",
    ]
    if fp32:
        lines += [
            "### float32 and int8 side by side (end to end)",
            "",
            "| class | float32 Se | int8 Se | float32 +P | int8 +P | float32 F1 | int8 F1 |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for a, b in zip(class_scores(fp32.e2e), class_scores(shipped.e2e), strict=True):
            lines.append(
                f"| {a.label} | {fmt(a.se)} | {fmt(b.se)} | {fmt(a.ppv)} | {fmt(b.ppv)} "
                f"| {fmt(a.f1)} | {fmt(b.f1)} |"
            )
        lines.append("")
    lines += [
        "### Per record (shipped model, end to end)",
        "",
        "Se per class in % (beats of that class in brackets); the data tests check a few "
        "of these records against these figures with a stated margin.",
        "",
        "| record | beats | N Se | S Se | V Se | F Se | extra detections |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, cm in shipped.per_record.items():
        cells = []
        for c in range(4):
            n = int(cm[c, :].sum())
            cells.append(f"{100 * cm[c, c] / n:.1f} ({n})" if n else "-")
        lines.append(
            f"| {name} | {int(cm[:5, :].sum())} | "
            + " | ".join(cells)
            + f" | {int(cm[5, :5].sum())} |"
        )
    lines += [
        "",
        "## Which inputs: the DS1 ablation",
        "",
        *ablation_table(folder, meta["context_features"]),
        "",
        "## What was tried",
        "",
        "Each step was judged on the DS1 out-of-fold score. In the interest of full "
        "disclosure: in the first session DS2 was also run after steps 1, 3 and 5 to check the "
        "pipeline, and three changes were made after such a run (dropping F from the selection "
        "score, step 2; putting distillation to a DS1 test against labels-only training, step "
        "4; the schedule fix, step 5). Each was decided on DS1 (reasons below), but they were "
        "prompted by a DS2 look. Steps 6-9 (second session) were decided on DS1 alone; DS2 was "
        "run at the end, and once more after a fix found by the streaming test, not by DS2 "
        "(the first beat of a record had used its RR after in place of its missing RR "
        "before, which a live beat cannot; the models were retrained with no other change). "
        "Step 10 (third session) was decided on DS1 alone; DS2 was run on the chosen "
        "models, and again after a fix found by a unit test, not by DS2 (in the int8 graph "
        "an N/S logit tie went to N where the rule said S; the same weights were "
        "re-exported with a tie margin, which moved a few beats). Step 11 (sixth session) "
        "was decided on DS1 alone; DS2 was run once, to regenerate this card with the "
        "shipped models unchanged. Step 12 (sixth session) was decided on DS1 alone; DS2 "
        "was run only to regenerate this card at the chosen level (four times: the later "
        "runs for the card's text and metadata fields alone, with the same figures; model "
        "files unchanged).",
        "",
        "1. Window + RR context, running template of all previous beats, class-weighted "
        "cross-entropy, offsets chosen on macro F1 of N S V F: V close to the bar, S far "
        "below it, and a large positive F offset (many N beats called F).",
        "2. Template of non-premature beats only, a feature RR before / the RR before it, "
        "offsets on N S V only (F is 413 DS1 beats, 373 from one patient): DS1 out-of-fold "
        "score within noise of step 1.",
        "3. Time-stretch augmentation and weight averaging (EMA): the best DS1 out-of-fold "
        "score of the three, by about one point.",
        "4. Distillation measured against the same student trained on labels alone, on "
        "the DS1 out-of-fold score, which decides the shipped student (see above).",
        "5. A methodology fix found on DS1 grounds: the final models had been trained for the "
        "epoch at which the CV curve peaked, with offsets fitted to the full-length fold "
        "models; the final models now keep the fold models' schedule, and weight "
        "initialisation is seeded (torch's own seed is random per process), so a rerun "
        "gives byte-identical models.",
        '6. The offset rule ("bar", above): on DS1 the old rule\'s offsets swung from run to '
        "run (F from -3 to +1.5) and left out-of-fold N Se near 95-96; the new rule holds N "
        "Se at the bar and never favours F. It trades a little out-of-fold macro F1 for N Se "
        "(the second session's ablation compared both rules: docs/MODEL.md at commit "
        "e33be0c).",
        "7. New patient-relative context features, each measured in the ablation: RR "
        "relative to the median of the last 10 RR (the local usual RR), the irregularity of "
        "the last 9 RR (median absolute successive difference over the local median: in "
        "atrial fibrillation an early beat is not an ectopic one), and the correlation and "
        "distance of the beat to the patient's template. The augmentation now moves the "
        "amplitude feature (it had moved the RR-before-over-previous-RR feature by mistake) "
        "and recomputes the template features on the augmented window.",
        "8. Latency (issue #7): the same feature sets without the RR after the beat, so that "
        "a beat need not wait for the next R-peak. The shipped choice and its cost are "
        "stated under Input above and in the ablation table.",
        "9. Featurisation vectorised (exponential averages by `scipy.signal.lfilter` with "
        "carried state, medians over sliding windows; no per-beat Python loop): the same "
        "numbers as the per-beat loop for feature version 3 (checked to the last bit on "
        "DS1 records), at a fraction of its CPU time (scripts/bench.py measures the stage).",
        "10. S (feature version 5). A look at the DS1 out-of-fold decisions per record "
        "showed the networks' S calls erratic between training seeds (the ablation's "
        "spread without the rule) while a three-threshold rule on the context features "
        "(premature against the patient's usual RR, regular rhythm, usual QRS) separated "
        "S from N far better on the same DS1 beats. Added: the RR before over the running "
        "average of the non-premature RR (the usual RR; in bigeminy or a run of S beats "
        "the plain averages drift towards the short RR), the correlation and distance of "
        "the QRS and of the P-wave region to the template; modality dropout (the head sees "
        "no wave for a share of the training beats) and teacher ensembles as options. The "
        "rule (What it is) decides S against N on top of the network; its thresholds are "
        "chosen on DS1 out-of-fold decisions, and its figures are nested in the folds. The "
        "ablation above, rerun on the current detector's beats, measures each: "
        + _rule_gain(folder)
        + " The network reads the rule's inputs and feature version 4's (`rule-inputs`). "
        "The KD-versus-labels choice, on the nested out-of-fold score with the rule, "
        "picked the student trained on labels alone this time.",
        _step11(folder),
        "12. The int8 model's onnxruntime path (sixth session, DS1 only): the graph "
        f"optimisation level is now set explicitly, to {GRAPH_OPTIMIZATION}, by the rule "
        "and measurement in the section above on variants; the model files are unchanged.",
        "",
        "Compared with the models shipped before, DS2 end to end int8: commit cd356bc "
        '(feature version 3, the "macro" offset rule with F at +1.5) V Se 93.3 / +P 84.0, '
        "S Se 33.3 / +P 29.3, N Se 90.2, macro F1 53.87 (2,493 normal beats called F); "
        "commit e33be0c (feature version 4, no S rule) V Se 93.7 / +P 88.0, S Se 18.9 / "
        "+P 13.0, N Se 94.2, macro F1 50.27 (record 232: 0.9 % of its S beats found). "
        + _s_note(shipped),
        "",
        "Where it fails. S: DS1 has about 930 S beats from a few patients (383 of them in "
        "record 209); the rule finds premature beats with the usual QRS in a regular "
        "rhythm, so S beats in an irregular stretch (runs of atrial tachycardia or flutter "
        "among irregular beats) are called N, and normal beats that come early against the "
        "patient's usual RR in a regular stretch (after a pause, at the end of a block) "
        "are called S. V: the shipped student is the one DS1 cross-validation chose (see "
        "Training data); V figures differ by several points between training runs (the "
        "ablation's spread), and the KD and labels-only students differ on DS2 by as much "
        "(the variant table). F is hardly ever called. Next steps worth trying: more S "
        "examples (INCART, SVDB: 128 Hz, close to the strap's rate), an irregularity "
        "measure that tells a run of S beats from atrial fibrillation, and a steadier "
        "network than two students averaged gave on DS1 (step 11).",
        "",
        "## Limits",
        "",
        "- Trained on 22 patients of one 1970s-80s database, lead MLII; a chest strap's "
        "lead is close to it but not the same. Q (unknown/paced) is barely learnt: paced "
        "records are excluded and DS1 holds 8 Q beats.",
        "- F (fusion) is rare and its morphology in between N and V; its figures are poor "
        "in every published inter-patient study and here too.",
        "- Beats in stretches the signal-quality stage marks unreadable should not be "
        "trusted whatever their label.",
        "",
        "Data: Moody GB, Mark RG. The impact of the MIT-BIH Arrhythmia Database. IEEE Eng in "
        "Med and Biol 20(3):45-50 (2001); Goldberger A, et al. PhysioBank, PhysioToolkit, and "
        "PhysioNet. Circulation 101(23):e215-e220 (2000).",
    ]
    return lines


if __name__ == "__main__":
    sys.exit(main())
