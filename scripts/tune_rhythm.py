"""Measure the rhythm thresholds on the tuning data only (never the reported split).

What each threshold was chosen on, and what this script prints for the current
settings or for overrides (``--set name=value``, RhythmConfig fields):

* ``af``: AF duration Se / specificity on the DS1 AF records (201, 203), per record
  too with the share of their reference AF the quality stage called unreadable and
  the `(AFL` flutter covered, and false AF episodes per 24 h on the other DS1
  records, with reference or model beat labels
  (also for the P-wave settings ``af_p_clear``, ``af_p_absent``, ``af_on_no_p`` and
  ``af_off_no_p``; ``--set af_p_clear=inf af_p_absent=0`` is RR irregularity alone;
  ``--second-lead`` runs it on each DS1 record's other lead, V1 in most, and
  ``--premature-share X`` sets which early beats the coherence leaves out); and the
  margin: AF stretches of any length (``af_min_s`` = 0) on the other DS1 records,
  how close they come to a false AF episode (``af_displaced_ratio`` was chosen on
  it, `monitor.classify.af_ectopy`);
* ``ectopy``: episode Se / +P of 3+ V runs, couplets, bigeminy, trigeminy and SVT on
  the DS1 records (``--labels model`` for the classifier-confidence cut
  ``ectopy_min_confidence``; ``--labels oof --oof-dir DIR`` for the V-run rate check
  ``vrun_fast_ratio``: out-of-fold labels, each DS1 record labelled by the fold model
  of scripts/oof_beat_models.py that did not train on that patient, since the shipped
  model's DS1 labels are in-sample and hide the false V beats a new patient gets);
* ``vf``: CUDB VF onsets alerted within 5 s on the odd-numbered records, and VF
  episodes outside VF on the odd-numbered records, DS1 and the paced records 102
  and 107 (the even-numbered CUDB records, DS2, 104 and 217 are left for the report);
* ``pause``: pause episode Se / +P on the DS1 records for a range of
  ``pause_missed_beat_ratio`` (the gap activity of `monitor.classify.pause_check` at
  which a long interval is a likely missed beat), and each pause with its gap
  activity and whether the reference has it (RR > 2 s between reference beats);
* ``noise``: false alarms per hour on DS1 records (not 118/119) mixed with the NSTDB
  ``em`` noise recording at 12 and 6 dB, the way the NSTDB records are built
  (scripts/tune_quality.py), against the same records' clean run and reference.

    python scripts/tune_rhythm.py af --data-dir ../shared/data --set af_pattern_ratio=1.3
    python scripts/tune_rhythm.py af --data-dir ../shared/data --second-lead
    python scripts/tune_rhythm.py ectopy --labels model --set ectopy_min_confidence=0.7
    python scripts/oof_beat_models.py --data-dir ../shared/data/mitdb --out /tmp/ecgmon-oof
    python scripts/tune_rhythm.py ectopy --labels oof --oof-dir /tmp/ecgmon-oof
    python scripts/tune_rhythm.py pause
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import fields, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import evaluate_rhythm as ev
from tune_quality import add_quality_option, noise_mask, qrs_power, set_thresholds

from monitor.classify import atrial
from monitor.classify.alerts import AlertManager
from monitor.classify.beat import ClassifiedBeat
from monitor.classify.pause_check import GapActivity
from monitor.classify.rhythm import (
    Episode,
    RhythmConfig,
    final_episodes,
    run_rhythm,
)
from monitor.evaluation import DS1, default_data_dir, load_reference
from monitor.recording import import_wfdb
from monitor.signal import WORKING_FS
from monitor.signal.qrs import detect_qrs
from monitor.signal.resample import resample_record

TUNING_PACED = ("102", "107")


def parse_overrides(items: list[str]) -> RhythmConfig:
    types = {f.name: f.type for f in fields(RhythmConfig)}
    kwargs: dict[str, object] = {}
    for item in items:
        name, _, value = item.partition("=")
        if name not in types:
            raise SystemExit(f"--set: RhythmConfig has no field {name!r}")
        default = getattr(RhythmConfig(), name)
        if "tuple" in str(types[name]):
            kwargs[name] = tuple(int(v) for v in value.split(","))
        elif isinstance(default, bool):  # (bool("False") is True)
            kwargs[name] = value.strip().lower() in ("1", "true", "yes", "on")
        else:
            kwargs[name] = type(default)(value)
    return RhythmConfig(**kwargs)  # type: ignore[arg-type]


def analyse(
    x: np.ndarray, beats: list[ClassifiedBeat], config: RhythmConfig
) -> tuple[list[Episode], list[Episode]]:
    events = run_rhythm(x, WORKING_FS, beats, config)
    return events, final_episodes(events)


def labelled(x: np.ndarray, ref: ev.RefLike, labeller: ev.Labeller) -> list[ClassifiedBeat]:
    return labeller(x, detect_qrs(x, WORKING_FS), ref)


def other_lead(data: Path, rec: str, ref_fs: float) -> tuple[np.ndarray, str]:
    """The record's lead that is not MLII (V1, V2, V4 or V5 in DS1), at the working rate.

    The rules were chosen on MLII; a chest strap's lead is only close to it, so the
    DS1 records' second lead is a check of how the AF evidence carries over to
    another lead without touching the reported records."""
    wfdb = import_wfdb("reading the second lead")
    record = wfdb.rdrecord(str(data / "mitdb" / rec))
    names = list(record.sig_name)
    channel = next(i for i, n in enumerate(names) if n != "MLII")
    x = np.asarray(record.p_signal[:, channel], dtype=np.float64) * 1000.0
    return resample_record(x, ref_fs, WORKING_FS), names[channel]


def tune_af(
    data: Path, labeller: ev.Labeller, config: RhythmConfig, second_lead: bool = False
) -> None:
    """AF figures on DS1, per AF record too: where its AF time goes (detected, lost to
    unreadable verdicts, missed by the rule) and how much flutter (`(AFL`) is covered.
    With `second_lead`, on each record's other lead instead of MLII."""
    tot, afl, neg, false_s, n_false, hours = ev.Tally(), ev.Tally(), 0.0, 0.0, 0, 0.0
    lost_s = 0.0
    rows: list[str] = []
    false_where: list[str] = []
    stretches: list[tuple[float, str]] = []
    for rec in DS1:
        ref = load_reference(data / "mitdb" / rec)
        lead = "MLII"
        if second_lead:
            x, lead = other_lead(data, rec, ref.fs)
        else:
            x = resample_record(ref.samples_uv, ref.fs, WORKING_FS)
        beats = labelled(x, ev.RefLike(ref.fs, ref.beat_samples, ref.beat_symbols), labeller)
        _, episodes = analyse(x, beats, config)
        det = ev.intervals(episodes, "af")
        if rec in ev.AF_RECORDS:
            truths = ev.rhythm_truth(ref.rhythm_samples, ref.rhythm_notes, ref.fs, ref.duration_s)
            truth = truths.get("af", [])
            t, f = ev.Tally(), ev.Tally()
            t.add(truth, det)
            f.add(truths.get("afl_only", []), det)
            tot.add(truth, det)
            afl.add(truths.get("afl_only", []), det)
            lost = ev._overlap_total(truth, ev.intervals(episodes, "unreadable"))
            lost_s += lost
            rec_neg = ref.duration_s - t.ref_s
            rec_false = t.det_s - t.overlap_s
            neg += rec_neg
            false_s += rec_false
            rows.append(
                f"  {rec} ({lead}): Se {ev.pct(t.overlap_s, t.ref_s)}%, specificity "
                f"{ev.pct(rec_neg - rec_false, rec_neg)}%, reference AF unreadable "
                f"{ev.pct(lost, t.ref_s)}%"
                + (
                    f", flutter ((AFL) covered {ev.pct(f.overlap_s, f.ref_s)}% of {f.ref_s:.0f} s"
                    if f.ref_s
                    else ""
                )
            )
        else:
            n_false += len(det)
            hours += ref.duration_s / 3600.0
            if det:
                false_where.append(f"{rec} {lead} ({len(det)})")
            # The margin: AF stretches of any length (af_min_s = 0) where there is none.
            short = ev.intervals(analyse(x, beats, replace(config, af_min_s=0.0))[1], "af")
            stretches.extend((b - a, rec) for a, b in short)
    print(
        f"AF on DS1: duration Se {ev.pct(tot.overlap_s, tot.ref_s)}%, specificity "
        f"{ev.pct(neg - false_s, neg)}% (201, 203); false AF {24 * n_false / hours:.1f} "
        f"per 24 h ({n_false} in {hours:.1f} h, other DS1 records"
        + (f": {', '.join(false_where)})" if false_where else ")")
    )
    print(
        f"  reference AF called unreadable: {ev.pct(lost_s, tot.ref_s)}%; flutter ((AFL) "
        f"covered: {ev.pct(afl.overlap_s, afl.ref_s)}% of {afl.ref_s:.0f} s"
    )
    print("\n".join(rows))
    longest = sorted(stretches, reverse=True)[:5]
    print(
        f"  margin on the other DS1 records: {len(stretches)} AF stretches of any length "
        f"(af_min_s = 0), {sum(d for d, _ in stretches):.0f} s in all; longest "
        + (", ".join(f"{d:.1f} s ({r})" for d, r in longest) if longest else "-")
    )


ECTOPY_KINDS = ("vrun", "couplet", "bigeminy", "trigeminy", "svt")


RecordLabeller = Callable[[str], ev.Labeller]
"""The labeller for one DS1 record (out-of-fold labels depend on the record's fold)."""


def oof_labeller(oof_dir: Path) -> RecordLabeller:
    """Out-of-fold model labels on DS1: each record is labelled by the fold model of
    `scripts/oof_beat_models.py` that did not train on that patient, through the same
    classifier path as the shipped model.

    Why: the shipped model trained on every DS1 patient, so its DS1 labels are
    in-sample; a rule tuned on them never meets the false V beats a new patient's
    recording has."""
    from monitor.classify.classifier import classify_beats
    from monitor.classify.model import BeatModel
    from monitor.signal.filters import filter_ecg

    held: dict[str, Path] = {}
    for meta in sorted(oof_dir.glob("beat-oof-fold*.json")):
        for rec in json.loads(meta.read_text())["held_out"]:
            held[rec] = meta.with_suffix(".onnx")
    missing = sorted(set(DS1) - set(held))
    if missing:
        raise SystemExit(
            f"--labels oof: no fold model in {oof_dir} holds out {' '.join(missing)} "
            "(make them with scripts/oof_beat_models.py --out DIR)"
        )
    models: dict[Path, BeatModel] = {}

    def for_record(rec: str) -> ev.Labeller:
        path = held[rec]
        model = models.get(path) or models.setdefault(path, BeatModel(path))

        def label(x: np.ndarray, peaks: np.ndarray, ref: ev.RefLike) -> list[ClassifiedBeat]:
            return classify_beats(filter_ecg(x, WORKING_FS), peaks, WORKING_FS, model)

        return label

    return for_record


def tune_ectopy(data: Path, labeller_for: RecordLabeller, config: RhythmConfig) -> None:
    tallies = {kind: ev.Tally() for kind in ECTOPY_KINDS}
    for rec in DS1:
        ref = load_reference(data / "mitdb" / rec)
        x = resample_record(ref.samples_uv, ref.fs, WORKING_FS)
        beats = labelled(
            x, ev.RefLike(ref.fs, ref.beat_samples, ref.beat_symbols), labeller_for(rec)
        )
        _, episodes = analyse(x, beats, config)
        truth = ev.rhythm_truth(ref.rhythm_samples, ref.rhythm_notes, ref.fs, ref.duration_s)
        truth.update(ev.beat_truth(ref.beat_samples, ref.beat_symbols, ref.fs))
        for kind, tally in tallies.items():
            tally.add(truth.get(kind, []), ev.intervals(episodes, kind))
    print(
        "ectopy episodes on DS1 (Se / +P %): "
        + ", ".join(
            f"{kind} {ev.pct(t.ref_hit, t.ref_n)} / {ev.pct(t.det_hit, t.det_n)}"
            for kind, t in tallies.items()
        )
    )


PAUSE_RATIOS = (0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.8, 1.0, float("inf"))


def tune_pause(data: Path, labeller: ev.Labeller, config: RhythmConfig) -> None:
    """Every long interval the rules see (the check off), with its gap activity; then
    pause Se / +P on DS1 as if each ratio in PAUSE_RATIOS were the setting."""
    unchecked = replace(config, pause_missed_beat_ratio=float("inf"))
    found: list[tuple[str, float, float, float, bool]] = []
    truths: dict[str, list[ev.Interval]] = {}
    for rec in DS1:
        ref = load_reference(data / "mitdb" / rec)
        x = resample_record(ref.samples_uv, ref.fs, WORKING_FS)
        beats = labelled(x, ev.RefLike(ref.fs, ref.beat_samples, ref.beat_symbols), labeller)
        gaps = GapActivity(WORKING_FS, config.pause_s)
        gaps.feed(x)
        activity = dict(gaps.measure(beats))
        truth = ev.beat_truth(ref.beat_samples, ref.beat_symbols, ref.fs)["pause"]
        vf = ev.rhythm_truth(ref.rhythm_samples, ref.rhythm_notes, ref.fs, ref.duration_s).get(
            "vf", []
        )
        truths[rec] = [p for p in truth if not any(ev._overlaps(p, v) for v in vf)]
        for e in analyse(x, beats, unchecked)[1]:
            if e.kind == "pause":
                value = activity.get(e.evidence.beat_indices[-1], -1.0)
                hit = any(ev._overlaps((e.start_s, e.end_s), r) for r in truths[rec])
                found.append((rec, e.start_s, e.end_s, value, hit))
    for rec, start, end, value, hit in found:
        print(
            f"  {rec} {start:8.2f} s RR {end - start:.2f} s gap activity {value:.2f} "
            f"{'reference pause' if hit else 'not in the reference'}"
        )
    for ratio in PAUSE_RATIOS:
        t = ev.Tally()
        for rec, ref_pauses in truths.items():
            t.add(ref_pauses, [(a, b) for r, a, b, v, _ in found if r == rec and v < ratio])
        print(
            f"pause_missed_beat_ratio {ratio}: DS1 pause episodes Se "
            f"{ev.pct(t.ref_hit, t.ref_n)}% ({t.ref_hit}/{t.ref_n}), +P "
            f"{ev.pct(t.det_hit, t.det_n)}% ({t.det_hit}/{t.det_n})"
        )


def tune_vf(data: Path, config: RhythmConfig) -> None:
    wfdb = import_wfdb("reading cudb")
    folder = data / "cudb"
    hits = onsets = false_cu = 0
    for name in (folder / "RECORDS").read_text().split():
        if int(name[2:]) % 2 == 0:
            continue
        rec = wfdb.rdrecord(str(folder / name))
        ann = wfdb.rdann(str(folder / name), "atr")
        x = np.nan_to_num(np.asarray(rec.p_signal[:, 0], dtype=np.float64)) * 1000.0
        x = resample_record(x, float(rec.fs), WORKING_FS)
        events, episodes = analyse(x, [], config)
        confirmed = {e.id: e.end_s for e in events if not e.final}
        vf_ref, start = [], None
        for s, t in zip(ann.symbol, ann.sample, strict=True):
            if s == "[":
                start = t / rec.fs
            elif s == "]" and start is not None:
                vf_ref.append((start, t / rec.fs))
                start = None
        if start is not None:
            vf_ref.append((start, len(x) / WORKING_FS))
        vf = [e for e in episodes if e.kind == "vf"]
        for onset, _ in vf_ref:
            onsets += 1
            hits += any(
                confirmed.get(e.id, np.inf) <= onset + ev.VF_ALERT_S and e.end_s >= onset
                for e in vf
            )
        false_cu += sum(not any(ev._overlaps((e.start_s, e.end_s), r) for r in vf_ref) for e in vf)
    false_mit = 0
    for rec in [*DS1, *TUNING_PACED]:
        ref = load_reference(data / "mitdb" / rec)
        truth = ev.rhythm_truth(ref.rhythm_samples, ref.rhythm_notes, ref.fs, ref.duration_s)
        if truth.get("vf"):
            continue
        x = resample_record(ref.samples_uv, ref.fs, WORKING_FS)
        false_mit += len(ev.intervals(analyse(x, [], config)[1], "vf"))
    print(
        f"VF, odd-numbered CUDB: {hits}/{onsets} onsets alerted within 5 s, {false_cu} VF "
        f"episodes outside VF; MIT-BIH DS1 + {'/'.join(TUNING_PACED)} without (VFL: "
        f"{false_mit} VF episodes"
    )


def _noise_intervals(mask: np.ndarray, fs: float) -> list[ev.Interval]:
    """The noisy segments of a `noise_mask` as (start_s, end_s) intervals."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return [(a / fs, b / fs) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def tune_noise(
    data: Path,
    labeller: ev.Labeller,
    config: RhythmConfig,
    noises: Sequence[str] = ("em",),
    second_lead: bool = False,
) -> None:
    """False alarms per hour on DS1 records (not 118/119) mixed with NSTDB noise-only
    recordings at 12 and 6 dB, and the share of noisy / clean segment time the quality
    stage calls unreadable. MLII with the noise's first channel (as NSTDB 118e/119e are
    built), or with `second_lead` each record's other lead with the noise's second."""
    wfdb = import_wfdb("reading the noise record")
    channel = 1 if second_lead else 0
    snrs = (12, 6)
    false = {(name, snr): 0 for name in noises for snr in snrs}
    lost = {(name, snr): [0.0, 0.0] for name in noises for snr in snrs}  # noisy, clean s
    span = {"noisy": 0.0, "clean": 0.0}
    where: list[str] = []
    hours = 0.0
    recordings = {
        name: np.asarray(wfdb.rdrecord(str(data / "nstdb" / name)).p_signal[:, channel]) * 1000.0
        for name in noises
    }
    for rec in (r for r in DS1 if r not in ("118", "119")):
        ref = load_reference(data / "mitdb" / rec)
        like = ev.RefLike(ref.fs, ref.beat_samples, ref.beat_symbols)
        truth = ev.rhythm_truth(ref.rhythm_samples, ref.rhythm_notes, ref.fs, ref.duration_s)
        truth.update(ev.beat_truth(ref.beat_samples, ref.beat_symbols, ref.fs))
        samples = ref.samples_uv
        if second_lead:
            record = wfdb.rdrecord(str(data / "mitdb" / rec))
            other = next(i for i, n in enumerate(record.sig_name) if n != "MLII")
            samples = np.asarray(record.p_signal[:, other], dtype=np.float64) * 1000.0
        n = min(min(len(r) for r in recordings.values()), len(samples))
        x_clean = resample_record(samples[:n], ref.fs, WORKING_FS)
        clean_alerts = AlertManager().process(
            analyse(x_clean, labelled(x_clean, like, labeller), config)[0]
        )
        mask = noise_mask(n, ref.fs)
        noisy = _noise_intervals(mask, ref.fs)
        clean_parts = [(0.0, noisy[0][0])] + [
            (a[1], b[0]) for a, b in zip(noisy, [*noisy[1:], (n / ref.fs, 0.0)], strict=True)
        ]
        span["noisy"] += sum(b - a for a, b in noisy)
        span["clean"] += sum(b - a for a, b in clean_parts)
        s_power = qrs_power(samples, ref.beat_samples, ref.fs)
        hours += n / ref.fs / 3600.0
        for name, recording in recordings.items():
            nz = recording[:n] - np.mean(recording[:n])
            gain_base = s_power / float(np.mean(nz[mask] ** 2))
            for snr in snrs:
                mixed = samples[:n] + np.where(
                    mask, np.sqrt(gain_base / 10 ** (snr / 10)) * nz, 0.0
                )
                x = resample_record(mixed, ref.fs, WORKING_FS)
                events, episodes = analyse(x, labelled(x, like, labeller), config)
                unreadable = ev.intervals(episodes, "unreadable")
                lost[name, snr][0] += ev._overlap_total(noisy, unreadable)
                lost[name, snr][1] += ev._overlap_total(clean_parts, unreadable)
                for a in AlertManager().process(events):
                    kind = ev.OUR_KIND.get(a.kind, a.kind)
                    if not (
                        any(
                            c.kind == a.kind and abs(c.episode_start_s - a.episode_start_s) < 10
                            for c in clean_alerts
                        )
                        or any(
                            ev._overlaps((a.episode_start_s, a.raised_s), r)
                            for r in truth.get(kind, [])
                        )
                    ):
                        false[name, snr] += 1
                        where.append(
                            f"{rec} {name} {snr} dB: {a.kind} at {a.episode_start_s:.0f} s"
                        )
        print(f"  {rec}: {false}", file=sys.stderr, flush=True)
    lead = "second lead" if second_lead else "MLII"
    for name in noises:
        print(
            f"false alarms per hour, DS1 {lead} + NSTDB {name}: "
            + ", ".join(f"{snr} dB {false[name, snr] / hours:.2f}" for snr in snrs)
            + "; unreadable noisy / clean segments %: "
            + ", ".join(
                f"{snr} dB {ev.pct(lost[name, snr][0], span['noisy'])} / "
                f"{ev.pct(lost[name, snr][1], span['clean'])}"
                for snr in snrs
            )
        )
    print("false alarms: " + ("; ".join(where) if where else "none"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["af", "ectopy", "vf", "noise", "pause"])
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument(
        "--labels",
        choices=["model", "reference", "oof"],
        default="reference",
        help="oof (ectopy only): out-of-fold model labels from the fold models in --oof-dir",
    )
    parser.add_argument(
        "--oof-dir",
        type=Path,
        default=Path("/tmp/ecgmon-oof"),
        help="the fold models of scripts/oof_beat_models.py --out (for --labels oof)",
    )
    parser.add_argument(
        "--premature-share",
        type=float,
        default=None,
        help="af: monitor.classify.atrial.PREMATURE_SHARE (early beats left out of the "
        "P-wave coherence; 0 keeps them all)",
    )
    parser.add_argument(
        "--second-lead",
        action="store_true",
        help="af, noise: run on each DS1 record's lead other than MLII (a check of other leads)",
    )
    parser.add_argument(
        "--noise",
        nargs="+",
        default=["em"],
        choices=["em", "ma", "bw"],
        help="noise: the NSTDB noise-only recordings to mix in (em: as NSTDB 118e/119e)",
    )
    add_quality_option(parser)
    # (extend: `--set a=1 --set b=2` keeps both; "*" kept only the last --set)
    parser.add_argument("--set", nargs="*", action="extend", default=[], metavar="NAME=VALUE")
    args = parser.parse_args()
    config = parse_overrides(args.set)
    set_thresholds(args.quality)
    if args.premature_share is not None:
        atrial.PREMATURE_SHARE = args.premature_share
    if args.labels == "oof":
        if args.what != "ectopy":
            parser.error("--labels oof is for ectopy only")
        tune_ectopy(args.data_dir, oof_labeller(args.oof_dir), config)
        return 0
    labeller = ev.reference_labeller if args.labels == "reference" else ev.model_labeller()
    if args.what == "af":
        tune_af(args.data_dir, labeller, config, args.second_lead)
    elif args.what == "ectopy":
        tune_ectopy(args.data_dir, lambda rec: labeller, config)
    elif args.what == "pause":
        tune_pause(args.data_dir, labeller, config)
    elif args.what == "vf":
        tune_vf(args.data_dir, config)
    else:
        tune_noise(args.data_dir, labeller, config, args.noise, args.second_lead)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
