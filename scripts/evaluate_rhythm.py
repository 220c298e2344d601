"""Score ecgmon's rhythm analysis, signal quality and alerts on real annotated ECG.

Every record is resampled to 130 Hz (what the strap delivers), its beats are found
by ecgmon's streaming QRS detector, labelled (``--labels``), and streamed with the
signal through the quality, VF and rhythm stages and the alert manager, exactly as
live. Then:

* MIT-BIH Arrhythmia (48 records): episode and duration sensitivity (Se) and positive
  predictivity (+P) per rhythm against the reference rhythm labels (``(AFIB``/``(AFL``
  -> af, ``(SBR`` -> brady, ``(B``, ``(T``, ``(VT`` -> 3+ V runs, ``(SVTA`` -> svt,
  ``(VFL`` -> vf) and, for pauses and couplets, which have no rhythm label, against
  the reference beats (RR > 2 s; exactly two V beats in a row). AF duration Se and
  specificity on the 8 AF records, false AF episodes per 24 h on the other 40.
* CUDB (35 records): every VF onset (``[``) alerted within 5 s?
* NSTDB 118/119 at each SNR: false alarms per hour (alerts absent from the clean
  record's run and from its reference), and the share of the noisy segments reported
  unreadable.

``--labels reference`` labels each detected beat with the AAMI class of the
reference beat within 150 ms (unmatched detections are Q): it isolates the rhythm
logic from the beat classifier. ``--labels model`` uses ecgmon's beat classifier.

    python scripts/evaluate_rhythm.py --data-dir ../shared/data --labels reference
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from monitor.classify.alerts import Alert, AlertManager
from monitor.classify.beat import ClassifiedBeat
from monitor.classify.rhythm import Episode, final_episodes, make_beats, run_rhythm
from monitor.evaluation import (
    AAMI_CLASS,
    DS1,
    MITDB_RECORDS,
    NSTDB_RECORDS,
    PACED,
    Reference,
    default_data_dir,
    load_reference,
)
from monitor.signal import WORKING_FS
from monitor.signal.qrs import detect_qrs
from monitor.signal.resample import resample_record

AF_RECORDS = ("201", "202", "203", "210", "217", "219", "221", "222")
RHYTHM_KIND = {
    "(AFIB": "af",
    "(AFL": "af",
    "(SBR": "brady",
    "(B": "bigeminy",
    "(T": "trigeminy",
    "(VT": "vrun",
    "(SVTA": "svt",
    "(VFL": "vf",
}
"""Reference rhythm label -> the ecgmon episode kind scored against it."""
OUR_KIND = {"triplet": "vrun", "nsvt": "vrun", "vt": "vrun"}
"""ecgmon kinds pooled for scoring (3+ V runs are all '(VT' in MIT-BIH)."""
SCORED = ("af", "brady", "bigeminy", "trigeminy", "vrun", "svt", "pause", "couplet", "vf")
TOLERANCE_S = 0.2
"""Intervals are widened by this much each side before matching short episodes."""
VF_ALERT_S = 5.0

Interval = tuple[float, float]

MEASURED: dict[str, float] = {}
"""Headline figures collected while the sections are written, for the goals table."""


@dataclass
class Tally:
    ref_n: int = 0
    ref_hit: int = 0
    det_n: int = 0
    det_hit: int = 0
    ref_s: float = 0.0
    det_s: float = 0.0
    overlap_s: float = 0.0

    def add(self, ref: list[Interval], det: list[Interval]) -> None:
        self.ref_n += len(ref)
        self.det_n += len(det)
        self.ref_hit += sum(any(_overlaps(r, d) for d in det) for r in ref)
        self.det_hit += sum(any(_overlaps(d, r) for r in ref) for d in det)
        self.ref_s += sum(b - a for a, b in ref)
        self.det_s += sum(b - a for a, b in det)
        self.overlap_s += _overlap_total(ref, det)


@dataclass
class RecordResult:
    name: str
    duration_s: float
    episodes: list[Episode]
    alerts: list[Alert]
    unreadable_s: float
    truth: dict[str, list[Interval]] = field(default_factory=dict)


def _overlaps(a: Interval, b: Interval) -> bool:
    return a[0] - TOLERANCE_S <= b[1] and b[0] - TOLERANCE_S <= a[1]


def _merge(intervals: list[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _overlap_total(ref: list[Interval], det: list[Interval]) -> float:
    total = 0.0
    for a, b in _merge(ref):
        for c, d in _merge(det):
            total += max(0.0, min(b, d) - max(a, c))
    return total


def rhythm_truth(
    ref_samples: np.ndarray, notes: Sequence[str], fs: float, duration_s: float
) -> dict[str, list[Interval]]:
    """Reference rhythm intervals per scored kind (a label lasts until the next one)."""
    truth: dict[str, list[Interval]] = defaultdict(list)
    times = [float(s) / fs for s in ref_samples] + [duration_s]
    for i, note in enumerate(notes):
        kind = RHYTHM_KIND.get(note)
        if kind is not None:
            truth[kind].append((times[i], times[i + 1]))
        if note == "(AFL":
            truth["afl_only"].append((times[i], times[i + 1]))
        if note == "(BII":
            truth["bii_only"].append((times[i], times[i + 1]))
    return truth


def beat_truth(
    beat_samples: np.ndarray, symbols: Sequence[str] | np.ndarray, fs: float
) -> dict[str, list[Interval]]:
    """Pauses (RR > 2 s) and couplets (exactly two V in a row) from reference beats."""
    t = np.asarray(beat_samples, dtype=np.float64) / fs
    cls = [AAMI_CLASS.get(s, "Q") for s in symbols]
    pauses = [(float(t[i - 1]), float(t[i])) for i in range(1, len(t)) if t[i] - t[i - 1] > 2.0]
    couplets: list[Interval] = []
    i = 0
    while i < len(cls):
        if cls[i] == "V":
            j = i
            while j + 1 < len(cls) and cls[j + 1] == "V":
                j += 1
            if j - i == 1:
                couplets.append((float(t[i]), float(t[j])))
            i = j + 1
        else:
            i += 1
    return {"pause": pauses, "couplet": couplets}


def reference_labels(
    peaks: np.ndarray, beat_samples: np.ndarray, symbols: np.ndarray, ref_fs: float
) -> list[str]:
    """AAMI class of the nearest reference beat within 150 ms of each detection, else Q."""
    t = np.asarray(peaks, dtype=np.float64) / WORKING_FS
    rt = np.asarray(beat_samples, dtype=np.float64) / ref_fs
    if rt.size == 0:
        return ["Q"] * len(t)
    j = np.clip(np.searchsorted(rt, t), 1, len(rt) - 1)
    left, right = rt[j - 1], rt[j]
    nearest = np.where(np.abs(t - left) <= np.abs(t - right), j - 1, j)
    ok = np.abs(rt[nearest] - t) <= 0.150
    return [
        AAMI_CLASS.get(str(symbols[k]), "Q") if good else "Q"
        for k, good in zip(nearest, ok, strict=True)
    ]


Labeller = Callable[[np.ndarray, np.ndarray, "RefLike"], list[ClassifiedBeat]]


class RefLike:
    """The parts of a reference record the labellers need."""

    def __init__(self, fs: float, beat_samples: np.ndarray, beat_symbols: np.ndarray) -> None:
        self.fs, self.beat_samples, self.beat_symbols = fs, beat_samples, beat_symbols


def reference_labeller(x: np.ndarray, peaks: np.ndarray, ref: RefLike) -> list[ClassifiedBeat]:
    labels = reference_labels(peaks, ref.beat_samples, ref.beat_symbols, ref.fs)
    return make_beats(peaks, labels, WORKING_FS)


def _find_classifier() -> object | None:
    """The module of ecgmon's beat classifier (it has `classify_beats` or a
    `BeatClassifier`), wherever in monitor.classify it lives; imported lazily."""
    import importlib
    import pkgutil

    import monitor.classify as package

    mine = {"rhythm", "rhythm_stage", "alerts", "vf", "episode_export", "beat"}
    for info in pkgutil.iter_modules(package.__path__):
        if info.name in mine:
            continue
        module = importlib.import_module(f"monitor.classify.{info.name}")
        if callable(getattr(module, "classify_beats", None)) or isinstance(
            getattr(module, "BeatClassifier", None), type
        ):
            return module
    return None


def model_labeller() -> Labeller:
    """Beats labelled by ecgmon's beat classifier; exits clearly when it is not there.

    The classifier reads the runtime-filtered 130 Hz ECG (`filter_ecg`), as it was
    trained on."""
    from monitor.signal.filters import filter_ecg

    module = _find_classifier()
    if module is None:
        print(
            "--labels model: ecgmon's beat classifier (classify_beats / BeatClassifier in "
            "monitor.classify) is not in this tree yet; use --labels reference",
            file=sys.stderr,
        )
        raise SystemExit(2)

    def label(x: np.ndarray, peaks: np.ndarray, ref: RefLike) -> list[ClassifiedBeat]:
        filtered = filter_ecg(x, WORKING_FS)
        whole = getattr(module, "classify_beats", None)
        if callable(whole):
            beats = list(whole(filtered, peaks, WORKING_FS))
        else:
            classifier = module.BeatClassifier()  # type: ignore[attr-defined]
            beats = list(classifier.process(filtered, peaks)) + list(classifier.flush())
        if len(beats) != len(peaks):
            raise SystemExit(
                f"--labels model: the classifier returned {len(beats)} beats "
                f"for {len(peaks)} R-peaks"
            )
        return beats

    return label


def run_one(
    name: str,
    samples_uv: np.ndarray,
    fs: float,
    ref: RefLike,
    labeller: Labeller,
    raw_events: bool = False,
) -> tuple[list[Episode], list[Alert]]:
    x = resample_record(samples_uv, fs, WORKING_FS)
    peaks = detect_qrs(x, WORKING_FS)
    beats = labeller(x, peaks, ref)
    events = run_rhythm(x, WORKING_FS, beats)
    alerts = AlertManager().process(events)
    return (events if raw_events else final_episodes(events)), alerts


def intervals(episodes: list[Episode], kind: str) -> list[Interval]:
    return [(e.start_s, e.end_s) for e in episodes if OUR_KIND.get(e.kind, e.kind) == kind]


def run_reference(
    folder: Path, name: str, labeller: Labeller
) -> tuple[Reference, list[Episode], list[Alert], dict[str, list[Interval]]]:
    """One annotated record through ecgmon, with its reference rhythm and beat episodes."""
    ref = load_reference(folder / name)
    episodes, alerts = run_one(
        name,
        ref.samples_uv,
        ref.fs,
        RefLike(ref.fs, ref.beat_samples, ref.beat_symbols),
        labeller,
    )
    truth = rhythm_truth(ref.rhythm_samples, ref.rhythm_notes, ref.fs, ref.duration_s)
    truth.update(beat_truth(ref.beat_samples, ref.beat_symbols, ref.fs))
    return ref, episodes, alerts, truth


def evaluate_mitdb(folder: Path, records: Sequence[str], labeller: Labeller) -> list[RecordResult]:
    results = []
    for rec in records:
        ref, episodes, alerts, truth = run_reference(folder, rec, labeller)
        # No beats are annotated during flutter: those gaps are VF, not pauses.
        truth["pause"] = [
            p for p in truth["pause"] if not any(_overlaps(p, v) for v in truth.get("vf", []))
        ]
        unreadable = sum(e.duration_s for e in episodes if e.kind == "unreadable")
        results.append(RecordResult(rec, ref.duration_s, episodes, alerts, unreadable, dict(truth)))
        print(f"  mitdb {rec}: {len(episodes)} episodes, {len(alerts)} alerts", file=sys.stderr)
    return results


def pct(a: float, b: float) -> str:
    return f"{100.0 * a / b:.1f}" if b > 0 else "n/a"


def mitdb_tables(results: list[RecordResult], title: str) -> list[str]:
    lines = [
        f"### {title}",
        "",
        "| rhythm | ref episodes | Se ep % | detected | +P ep % | ref min | Se dur % | +P dur % |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for kind in SCORED:
        t = Tally()
        for r in results:
            t.add(r.truth.get(kind, []), intervals(r.episodes, kind))
        if t.ref_n == 0 and t.det_n == 0:
            continue
        if title.startswith("All"):
            for key, num, den in (
                ("se_ep", t.ref_hit, t.ref_n),
                ("p_ep", t.det_hit, t.det_n),
                ("se_dur", t.overlap_s, t.ref_s),
                ("p_dur", t.overlap_s, t.det_s),
            ):
                if den > 0:
                    MEASURED[f"{kind}.{key}"] = 100.0 * num / den
        lines.append(
            f"| {kind} | {t.ref_n} | {pct(t.ref_hit, t.ref_n)} | {t.det_n} | "
            f"{pct(t.det_hit, t.det_n)} | {t.ref_s / 60:.1f} | {pct(t.overlap_s, t.ref_s)}"
            f" | {pct(t.overlap_s, t.det_s)} |"
        )
    return [*lines, ""]


def af_section(results: list[RecordResult]) -> list[str]:
    lines = [
        "### AF",
        "",
        "| record | ref AF min | detected AF min | duration Se % | specificity % | "
        "+P dur % | unreadable % | ref AF unreadable % |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    tot = Tally()
    non_af_time = false_time = af_unreadable = 0.0
    for r in results:
        if r.name not in AF_RECORDS:
            continue
        ref, det = r.truth.get("af", []), intervals(r.episodes, "af")
        t = Tally()
        t.add(ref, det)
        tot.add(ref, det)
        neg = r.duration_s - t.ref_s
        false = t.det_s - t.overlap_s
        non_af_time += neg
        false_time += false
        # (reference AF the quality stage called unreadable: lost to the signal
        # verdict, not to the AF rule, which never runs there)
        lost = _overlap_total(ref, intervals(r.episodes, "unreadable"))
        af_unreadable += lost
        lines.append(
            f"| {r.name} | {t.ref_s / 60:.1f} | {t.det_s / 60:.1f} | "
            f"{pct(t.overlap_s, t.ref_s)} | {pct(neg - false, neg)} | "
            f"{pct(t.overlap_s, t.det_s)} | {pct(r.unreadable_s, r.duration_s)} | "
            f"{pct(lost, t.ref_s)} |"
        )
    n_af = sum(r.name in AF_RECORDS for r in results)
    lines.append(
        f"| **all {n_af}** | {tot.ref_s / 60:.1f} | {tot.det_s / 60:.1f} | "
        f"**{pct(tot.overlap_s, tot.ref_s)}** | "
        f"**{pct(non_af_time - false_time, non_af_time)}** | "
        f"{pct(tot.overlap_s, tot.det_s)} | | {pct(af_unreadable, tot.ref_s)} |"
    )
    others = [r for r in results if r.name not in AF_RECORDS]
    hours = sum(r.duration_s for r in others) / 3600.0
    n_false = sum(len(intervals(r.episodes, "af")) for r in others)
    if tot.ref_s > 0 and non_af_time > 0:
        MEASURED["af.se_dur8"] = 100.0 * tot.overlap_s / tot.ref_s
        MEASURED["af.spec8"] = 100.0 * (non_af_time - false_time) / non_af_time
    if hours > 0:
        MEASURED["af.false_per_24h"] = 24.0 * n_false / hours
    where = ", ".join(
        f"{r.name} ({len(intervals(r.episodes, 'af'))})"
        for r in others
        if intervals(r.episodes, "af")
    )
    afl = Tally()
    for r in results:
        afl.add(r.truth.get("afl_only", []), intervals(r.episodes, "af"))
    if afl.ref_s > 0:
        lines += [
            "",
            f"Atrial flutter alone (`(AFL`, {afl.ref_s / 60:.1f} min): "
            f"{pct(afl.overlap_s, afl.ref_s)}% of it is inside an ecgmon AF episode "
            "(flutter with a fixed conduction ratio is regular, which RR irregularity "
            "cannot see).",
        ]
    bii = Tally()
    for r in results:
        bii.add(r.truth.get("bii_only", []), intervals(r.episodes, "pause"))
    if bii.ref_n > 0:
        lines += [
            "",
            f"2nd-degree block (`(BII`, {bii.ref_n} episodes, {bii.ref_s / 60:.1f} min) "
            "has no rule of its own; "
            f"{bii.ref_hit} of its episodes contain an ecgmon pause.",
        ]
    vf_free = [r for r in results if not r.truth.get("vf")]
    paced = [r for r in vf_free if r.name in PACED]
    n_vf = sum(len(intervals(r.episodes, "vf")) for r in vf_free if r.name not in PACED)
    n_vf_paced = sum(len(intervals(r.episodes, "vf")) for r in paced)
    h_vf = sum(r.duration_s for r in vf_free if r.name not in PACED) / 3600.0
    lines += [
        "",
        f"VF episodes on the {len(vf_free) - len(paced)} unpaced records without "
        f"`(VFL`: {n_vf} in {h_vf:.1f} h; on the {len(paced)} paced records: "
        f"{n_vf_paced}.",
    ]
    lines += [
        "",
        f"False AF episodes on the {len(others)} records without AF: {n_false} in "
        f"{hours:.1f} h = **{24.0 * n_false / max(hours, 1e-9):.1f} per 24 h**"
        + (f" ({where})." if where else "."),
        "",
    ]
    return lines


def evaluate_cudb(folder: Path, labeller: Labeller) -> list[str]:
    from monitor.recording import import_wfdb

    wfdb = import_wfdb("reading cudb")
    names = (folder / "RECORDS").read_text().split()
    rows = [
        "| record | VF onsets | alerted within 5 s | latencies s | false VF episodes |",
        "| --- | ---: | ---: | --- | ---: |",
    ]
    onsets_all = hit_all = 0
    held_out = [0, 0]
    latencies: list[float] = []
    false_total = 0
    minutes = 0.0
    for name in names:
        rec = wfdb.rdrecord(str(folder / name))
        ann = wfdb.rdann(str(folder / name), "atr")
        x = np.asarray(rec.p_signal[:, 0], dtype=np.float64) * 1000.0
        x = np.where(np.isfinite(x), x, 0.0)
        syms = np.asarray(ann.symbol)
        samples = np.asarray(ann.sample)
        beat = np.isin(syms, list(AAMI_CLASS))
        ref = RefLike(float(rec.fs), samples[beat], syms[beat])
        events, _ = run_one(name, x, float(rec.fs), ref, labeller, raw_events=True)
        episodes = final_episodes(events)
        confirmed = {e.id: e.end_s for e in events if not e.final}
        duration = len(x) / rec.fs
        minutes += duration / 60
        vf_ref: list[Interval] = []
        start = None
        for s, t in zip(syms, samples, strict=True):
            if s == "[":
                start = t / rec.fs
            elif s == "]" and start is not None:
                vf_ref.append((start, t / rec.fs))
                start = None
        if start is not None:
            vf_ref.append((start, duration))
        vf_eps = [e for e in episodes if e.kind == "vf"]
        hits, lat = 0, []
        for onset, _end in vf_ref:
            # In time: a VF episode confirmed by onset + 5 s and still going at the onset
            # (one confirmed earlier, e.g. during a VT labelled otherwise, counts at 0 s).
            confirm = [
                confirmed[e.id]
                for e in vf_eps
                if confirmed.get(e.id, np.inf) <= onset + VF_ALERT_S and e.end_s >= onset
            ]
            if confirm:
                hits += 1
                lat.append(max(0.0, min(confirm) - onset))
        false_eps = [
            e for e in vf_eps if not any(_overlaps((e.start_s, e.end_s), r) for r in vf_ref)
        ]
        false_total += len(false_eps)
        onsets_all += len(vf_ref)
        hit_all += hits
        if int(name[2:]) % 2 == 0:
            held_out[0] += len(vf_ref)
            held_out[1] += hits
        latencies += [v for v in lat if np.isfinite(v)]
        rows.append(
            f"| {name} | {len(vf_ref)} | {hits} | "
            f"{', '.join(f'{v:.1f}' for v in lat) or '-'} | {len(false_eps)} |"
        )
        print(f"  cudb {name}: {hits}/{len(vf_ref)}", file=sys.stderr)
    med = f"{np.median(latencies):.1f}" if latencies else "n/a"
    if onsets_all:
        MEASURED["vf.se"] = 100.0 * hit_all / onsets_all
    return [
        f"VF onsets alerted within {VF_ALERT_S:.0f} s: **{hit_all}/{onsets_all} = "
        f"{pct(hit_all, onsets_all)}%** (even-numbered records, not used to choose the VF "
        f"thresholds: {held_out[1]}/{held_out[0]} = {pct(held_out[1], held_out[0])}%); "
        f"median alert latency {med} s. VF episodes outside the reference VF: "
        f"{false_total} in {minutes / 60:.1f} h.",
        "",
        *rows,
        "",
    ]


def evaluate_nstdb(folder: Path, mitdb: Path, labeller: Labeller) -> list[str]:
    clean_alerts: dict[str, list[Alert]] = {}
    for base in ("118", "119"):
        ref = load_reference(mitdb / base)
        _, clean_alerts[base] = run_one(
            base,
            ref.samples_uv,
            ref.fs,
            RefLike(ref.fs, ref.beat_samples, ref.beat_symbols),
            labeller,
        )
    rows = [
        "| record | SNR dB | alerts | false alarms | false / h | noisy segments unreadable % "
        "| clean segments unreadable % | false alarms (kind, episode start) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    by_snr: dict[str, list[float]] = defaultdict(list)
    for name in NSTDB_RECORDS:
        ref, episodes, alerts, truth = run_reference(folder, name, labeller)
        clean = clean_alerts[name[:3]]
        false = []
        for a in alerts:
            kind = OUR_KIND.get(a.kind, a.kind)
            in_clean = any(
                c.kind == a.kind and abs(c.episode_start_s - a.episode_start_s) < 10.0
                for c in clean
            )
            in_truth = any(
                _overlaps((a.episode_start_s, a.raised_s), r) for r in truth.get(kind, [])
            )
            if not (in_clean or in_truth):
                false.append(a)
        hours = ref.duration_s / 3600.0
        noisy, clean_s = _segment_unreadable(episodes, ref.duration_s)
        snr = name[4:].replace("_", "-")
        by_snr[snr].append(len(false) / hours)
        kinds = ", ".join(f"{a.kind} at {a.episode_start_s:.0f} s" for a in false) or "-"
        rows.append(
            f"| {name} | {snr} | {len(alerts)} | {len(false)} | {len(false) / hours:.1f} "
            f"| {noisy:.1f} | {clean_s:.1f} | {kinds} |"
        )
        print(f"  nstdb {name}: {len(false)} false alarms", file=sys.stderr)
    summary = ", ".join(f"{snr} dB: {np.mean(v):.1f}" for snr, v in by_snr.items())
    MEASURED["nstdb.max_false_6db_up"] = max(
        float(np.mean(v)) for snr, v in by_snr.items() if int(snr) >= 6
    )
    return [f"False alarms per hour by SNR (mean of 118 and 119): {summary}.", "", *rows, ""]


def _segment_unreadable(episodes: list[Episode], duration_s: float) -> tuple[float, float]:
    """% of the noisy and of the clean NSTDB segments covered by unreadable episodes."""
    t = np.arange(int(duration_s)) + 0.5
    after = t - 300.0
    noisy = (after >= 0) & ((after // 120) % 2 == 0)
    bad = np.zeros(t.size, dtype=bool)
    for e in episodes:
        if e.kind == "unreadable":
            bad[int(e.start_s) : int(np.ceil(e.end_s))] = True
    return 100.0 * bad[noisy].mean(), 100.0 * bad[~noisy].mean()


GOALS: tuple[tuple[str, str, str, float, bool], ...] = (
    ("AF duration Se, records with AF", "af.se_dur8", ">=", 95.0, True),
    ("AF duration specificity, records with AF", "af.spec8", ">=", 95.0, True),
    ("false AF episodes per 24 h, records without AF", "af.false_per_24h", "<", 1.0, False),
    ("VF onsets alerted within 5 s (CUDB)", "vf.se", ">=", 95.0, True),
    ("pause episode Se", "pause.se_ep", ">=", 95.0, True),
    ("pause episode +P", "pause.p_ep", ">=", 90.0, True),
    ("sinus bradycardia episode Se ((SBR)", "brady.se_ep", ">=", 95.0, True),
    ("sinus bradycardia episode +P ((SBR)", "brady.p_ep", ">=", 90.0, True),
    ("bigeminy episode Se", "bigeminy.se_ep", ">=", 95.0, True),
    ("bigeminy episode +P", "bigeminy.p_ep", ">=", 90.0, True),
    ("trigeminy episode Se", "trigeminy.se_ep", ">=", 95.0, True),
    ("trigeminy episode +P", "trigeminy.p_ep", ">=", 90.0, True),
    ("ventricular runs (3+ V, (VT) episode Se", "vrun.se_ep", ">=", 95.0, True),
    ("ventricular runs (3+ V, (VT) episode +P", "vrun.p_ep", ">=", 90.0, True),
    ("couplet episode Se", "couplet.se_ep", ">=", 95.0, True),
    ("couplet episode +P", "couplet.p_ep", ">=", 90.0, True),
    (
        "NSTDB false alarms per hour at 6 dB and above (worst SNR)",
        "nstdb.max_false_6db_up",
        "<=",
        1.0,
        False,
    ),
)


WHY = """### Why goals are missed (causes found by looking at the episodes, not tuned away)

- **With model labels**, every ectopy-based row (V runs, couplets, bigeminy, trigeminy,
  SVT) also carries the beat classifier's errors: a few false V or S beats make false
  runs and patterns, missed V beats split them. docs/RHYTHM-reference.md runs the same
  rules on the reference classes, so the difference between the two reports is the
  classifier's share. The causes below were found with reference labels. A V or S call
  the classifier gives less than 0.7 probability counts as unknown for these rules
  (`RhythmConfig.ectopy_min_confidence`): it ends a run or pattern rather than making
  one. The cut depends on the model, so it is chosen anew on DS1 for each shipped
  model, as the cut with the largest sum of Se and +P of 3+ V runs and couplets
  (`python scripts/tune_rhythm.py ectopy --labels model --set
  ectopy_min_confidence=X`; for the current model 0.7, tied with 0.75, the lower cut
  kept). It trades some sensitivity for +P: a true run with one unsure beat is split.

- **Pauses**: of the 16 false pauses before the gap check (model labels), 13 were beats
  the QRS detector missed (the reference has 1-6 beats in the gap, often at 0.3-0.6
  times the patient's QRS size, some in annotated noise: 105, 108 x2, 116, 124, 201,
  203 x2, 208 x3, 217, 228) and 3 were long RRs of 232 at the limit (2.01-2.02 s
  detected, 2.0 s or less between the reference beats: R-peak timing, not a missed
  beat). A pause is now reported only when its gap is quiet: the largest 5-20 Hz
  deflection from 0.3 s after the first beat to 0.2 s before the second, over the
  median of the last 8 beats, below 0.25 (`monitor/classify/pause_check.py`; chosen on
  DS1, where the highest real pause is at 0.24 and 7 of the 10 false ones are at 0.27
  or more). Not by the RR alone: a sinus pause or exit block is often exactly twice
  the previous RR. With model labels this took pause +P from 89.3 to 94.9% and Se
  from 98.5 to 97.0% (two real pauses of 232 after an APC, at 0.27 and 0.28). The
  false pauses left are the 3 timing cases of 232, a missed beat where the signal
  shrank (116: the missed beats are smaller than the gap threshold), noise without a
  QRS-sized deflection (201, 203) and 228.
- **3+ V runs**: runs of 3 or more V beats count only above 75/min (NSVT is defined
  above 100/min; with reference labels 100 lost 4 of the 39 DS1 `(VT` episodes, 75
  none). On all records, reference labels, +P went from 92.6 to 100%; the remaining
  misses are mostly in 205 and 203, where a V beat of the run is missed or unmatched by
  the detector, splitting the run.
  With model labels most false runs are beats the classifier calls V. A couplet or
  run is now reported only when some interval of it is fast: the RR into its first
  beat or between two of its beats below 0.95 times the usual N-N RR (median of the
  last 8; `RhythmConfig.vrun_fast_ratio`, `monitor/classify/vrun_check.py`):
  ventricular beats come early or fast, beats called V at the usual rate are paced or
  normal beats. Not the onset alone: late-coupled couplets (208) start at the usual
  RR. Chosen on DS1 with out-of-fold labels (each record labelled by a fold model of
  the classifier's cross-validation that did not train on that patient:
  `scripts/oof_beat_models.py`, `scripts/tune_rhythm.py ectopy --labels oof`), since
  the shipped model's DS1 labels are in-sample and make few false V beats: there it
  took runs from 51.3/52.6 to 51.3/60.6 (Se/+P) and couplets from 68.7/82.1 to
  68.7/84.1, and lost no DS1 run with reference labels (the closest, a couplet of 208,
  is at 0.944). The usual RR outlives an unreadable stretch shorter than `bridge_s`,
  as the AF window does (no effect on DS1). On all records, model labels: runs +P
  58.6 -> 60.0 at unchanged Se, couplets 92.8/77.2 -> 92.4/80.3 (outside DS1 couplets
  83.5/50.0 -> 82.0/55.6); reference labels: couplets 97.3/98.3 -> 96.8/98.6 (three
  couplets of 200 at the sinus rate, two of them reached with model labels too), runs
  unchanged. Most false
  runs left are in the paced records 104, 107 and 217 (paced beats called V, often
  next to real premature beats, so the run has a fast interval) and in 233 (a normal
  beat called V just before a real PVC); no RR rule separates those from 208's
  late-coupled couplets, a QRS-shape check could.
- **Sinus bradycardia +P**: MIT-BIH labels `(SBR` in record 232 only. The threshold
  is the 2018 ACC/AHA/HRS guideline's definition, a sinus rate below 50/min (it was
  60/min, which 101, 113, 115, 231 and others reach at rest: 165 brady episodes with
  reference labels, now 76), with regular N-N intervals and not during AF. A
  sinus bradycardia now ends only after its rate has been back above the limit for
  10 s (`brady_end_s`, the same 10 s it must last to begin), so sinus arrest and a
  few faster beats inside it no longer split one episode into many (model labels:
  86 -> 44 episodes, +P 20.9 -> 31.8%; 232 18 -> 14, 123 37 -> 8, 117 7 -> 3;
  reference labels: 78 -> 37 episodes, +P 3.8 -> 8.1%, 232 has 3). 232's
  episodes are still several: between its clusters of pauses its sinus rate is
  52-64/min, above the 50/min definition, for a minute or more. The other extra
  episodes are real rates below 50/min that the reference labels `(N` (117, 123: long
  stretches at 46-50/min), 231's 2:1 block (the ventricular rate is below 50/min;
  no rule tells the block apart) and a few in 219, 124, 201, 108, 106: against this
  reference the goal cannot be met by a correct detector. At 50/min less of 232's
  `(SBR` (labelled at 50-60/min) is covered (duration Se with reference labels 58%,
  with model labels 37%).
- **Trigeminy / bigeminy +P**: the extra episodes are mostly in records with dense PVCs
  (208, 106, 233) whose ventricular patterns the annotators often left as `(N`; the rule
  needs only 3 cycles (4 cycles lost far more sensitivity than it gained on DS1).
- **AF**: the detector is the RR irregularity of Petrenas et al. (2015) after ectopy
  removal, plus a test for regularly irregular series (intervals 2 or 3 beats apart
  agree: bigeminy, trigeminy, missed ectopy), chosen on DS1. An episode's start and end
  are the irregular interval pairs that bound it, not half a window from where the
  window's median crossed the threshold. Atrial activity is the second source of
  evidence (`monitor/classify/atrial.py`): the coherence of the PR stretches of the
  last 12 N/S beats aligned on R (on DS1 per beat: AF median 0.08, elsewhere 0.81).
  Clear P waves (>= 0.45) veto AF and end it; absent P waves (< 0.25) lower the
  irregularity thresholds from 0.10/0.07 to 0.08/0.05 (all four chosen on DS1). With
  model labels this took AF duration Se on the 8 AF records from 75.7 to 86.4% and
  specificity from 91.6 to 92.3% (210: Se 64 -> 95%, its AF at |dRR| / RR of about
  0.10 has no P waves; 221: 82 -> 98%, AF with a PVC every 3-5 beats and fairly
  regular N-N intervals; 219: specificity 77 -> 92%, where the sinus interruptions
  of 10-20 s were read as AF). Beats more than 10% early (RR below 0.9 times the
  median of the 8 intervals before) are left out of the coherence whatever their
  label: a PVC the classifier calls N has no P wave and its stretch holds the previous
  T wave, which made sinus rhythm with ectopy read as "P waves absent". Chosen on DS1,
  also on each DS1 record's second lead (V1 in most, where the classifier, trained on
  MLII, calls more V beats N; `scripts/tune_rhythm.py af --second-lead`): AF
  specificity on 201/203 with model labels 92.6 -> 94.8% on MLII and 71.6 -> 90.0% on
  the second lead, Se unchanged; on all 8 AF records specificity 92.3 -> 94.8%, Se
  86.4 -> 86.3%. A share of the AF time missed is never seen by the AF
  rule: the quality stage calls it unreadable (column "ref AF unreadable %" of the AF
  table; on DS1 that is 3.6 of the 4.9 points 203 and 201 miss, all in 203, mostly in
  its flutter, where the QRS-band envelope's median / 98th-percentile ratio is over
  its 0.12 limit (median 0.13) with a median kurtosis of 6.7, a peaked trace rather
  than Gaussian noise; `python scripts/tune_rhythm.py af --labels model` prints it
  per DS1 record). Such time can only be won back in the quality stage, against its
  noise goals (on the DS1 second leads it is worse: 85% of 203's AF in V1). There is no
  detector of flutter waves: DS1 holds no flutter with a fixed block (203's `(AFL`
  conducts irregularly; 80% of it is inside AF episodes, most of the rest unreadable),
  so none could be chosen or checked on the tuning data. Sensitivity is still lost in
  222 (flutter with a fixed block is regular, and its flutter waves, locked to the QRS,
  are as coherent as P waves; its AF/flutter/nodal stretches last seconds, shorter
  than the 30 s an episode needs; much of its AF/flutter time is unreadable),
  202 (115 s of AF at 1176-1292 s whose N-N irregularity, about 0.065, is below even
  the no-P-wave threshold, and 48 s of flutter with a coherence of 0.7) and 217
  (paced: paced beats are class Q, so their intervals and PR stretches are not used,
  and 40% of it reads as noise). Specificity in 203, 210 and 221 is over a minute or
  less of `(VT`, `(B` and `(T` labelled inside AF, during which AF goes on. Episode Se
  is low because many reference AF/AFL episodes are shorter than 30 s. The false AF
  episodes outside AF records are in 200: sinus rhythm broken by ventricular bigeminy
  and PACs, where the N-N intervals left between the ectopic beats (sinus arrhythmia,
  PACs the classifier calls N) reach an irregularity of 0.08-0.12, at or just above
  the thresholds, and its P waves are too faint in this lead at 130 Hz for the veto
  (coherence outside AF with model labels: median 0.22, 10th percentile 0.11; at the
  false onsets 0.14-0.44). Leaving out the pairs of successive N-N intervals that one
  displaced beat explains (their sum is two typical cycles: a premature beat and its
  pause, a late R peak; `monitor/classify/af_ectopy.py`, `af_displaced_ratio`, chosen
  on DS1 at 0.25 by its margin, the AF stretches on the non-AF DS1 records, 134 -> 94
  s, at unchanged DS1 Se) took false AF to 1.2 per 24 h with either label set (200:
  4 -> 1 with model labels), but on the 8 AF records lost AF duration Se, 86.4 ->
  85.2% (210: 95.7 -> 90.6%; its AF, without P waves, sits near an irregularity of
  0.10, and the pairs left out by chance pull it under the threshold after each
  interruption). It is on, at its DS1 choice: deciding by these figures either way
  would be choosing on the test records. Other measures of ectopy do not tell 200 from AF with
  frequent PVCs (looked at after the fact on 200 and 221, outside DS1, so none was
  adopted): the regularity of the N-V-N spans (a sinus clock keeping time through full
  compensatory pauses: 0.02-0.12 at 200's false onsets, while AF's 10th percentile is
  0.05 in 221 and 0.08 in 203, as 200's sinus rate moves with its ectopy), the share
  of irregular N-N pairs that one displaced beat explains (the two intervals add up
  to two cycles: 0.25-0.56 at 200's onsets, in AF median 0.25-0.29 and 95th
  percentile 0.50-0.59), the irregularity of the N-N pairs away from V beats (too few
  such pairs in 46% of 221's AF) and leaving post-ectopic beats out of the coherence
  (200's median fell to 0.19). With model labels 107 (paced: the classifier calls its
  paced beats N, and paced beats have no P wave) had two AF episodes of 0 s: 26 s of
  AF state with about 4 s unreadable in it, confirmed because the unreadable time
  counted towards the 30 s. Only analysed time counts now (`af_gap_counts`): that
  removed both and changed no DS1 figure on MLII; on the 8 AF records, model labels,
  AF duration Se 86.5 -> 86.4% and specificity 93.3 -> 93.8% (all in 222, a fifth
  unreadable), reference labels unchanged. AF in a very noisy trace is confirmed
  later: on the DS1 second leads AF Se went from 67.5 to 65.5% (203's V1, a quarter
  of its AF unreadable; `scripts/tune_rhythm.py af --second-lead --set
  af_gap_counts=True` gives the old figure).
- **VF (CUDB)**: a 3 s window (4 s made onsets late) and a harmonic test (paced rhythms
  have lines at half and one and a half times their strongest frequency) took the
  odd-numbered records from 20 to 23 of 23 and paced false VF from 73 episodes to 1
  (none with the veto below).
  The missed onsets are all in held-out records, in slow coarse VF: cu06 at 320 s and
  cu30 at 169 and 349 s oscillate at 1.7-2.3 Hz (100-140/min) with only 42-58% of the
  samples above a fifth of the peak, where the slow branch asks for 60% (fast wide-QRS
  rhythms look like that too); at cu06 320 s the first VF-like second is also vetoed by
  standing-out QRS (a VF-like spectrum while the QRS-band envelope still has clear
  peaks, i.e. a beating heart under noise; chosen on the odd records and DS1 mixed with
  noise, where it lost no onset). These causes were found after the thresholds were
  set and were not tuned away.
- **NSTDB**: electrode-motion noise puts a broad hump at 2.5-3 Hz, which made the
  QRS-free detector call VF under noise (it is on purpose not vetoed by the noise
  verdict: real VF reads as noise too). Below 3.2 Hz a VF-like second now needs a
  spectral concentration of 0.65 instead of 0.50 (`monitor/classify/vf.py`, chosen on
  DS1 + `em` and the odd CUDB records). The false alarms left are runs of beats the
  classifier calls V in noise the quality stage still reads as readable (peak ratio
  just under its 0.12 limit). The V-run rate check does not remove them: in
  118e06 at 865 s four normal beats called V follow 30 s read as unreadable, so no
  usual RR is known (dropping runs without one lost 20 points of DS1 V-run Se with
  reference labels: VT is often next to stretches read as noise); in the DS1 + `em`
  tuning mixtures the false runs are extra detections in the noise between real
  beats, whose short intervals look fast. Triplets are logged, not alerted, and SVT
  runs alert from 5 s on (`monitor/classify/alerts.py`): most short runs under noise
  are mislabelled beats.
"""


def goals_section() -> list[str]:
    """The issue's goals against what this run measured (met / missed by how much)."""
    lines = [
        "## Goals (issue 6) against this run",
        "",
        "| goal | target | measured | verdict |",
        "| --- | ---: | ---: | --- |",
    ]
    for name, key, op, target, percent in GOALS:
        if key not in MEASURED:
            continue
        value = MEASURED[key]
        ok = {">=": value >= target, "<": value < target, "<=": value <= target}[op]
        unit = "%" if percent else ""
        verdict = "met" if ok else f"missed by {abs(value - target):.1f}{unit}"
        lines.append(f"| {name} | {op} {target:g}{unit} | {value:.1f}{unit} | {verdict} |")
    return [*lines, "", *WHY.splitlines(), ""]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--labels", choices=["model", "reference"], default="model")
    parser.add_argument("--records", nargs="*", help="MIT-BIH records (default: all 48)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["mitdb", "cudb", "nstdb"])
    parser.add_argument("--out", type=Path, default=Path("docs/RHYTHM.md"))
    args = parser.parse_args(argv)
    labeller = reference_labeller if args.labels == "reference" else model_labeller()
    started = time.time()
    doc = [
        "# Rhythm analysis, signal quality and alerts: measured",
        "",
        "Produced by `python scripts/evaluate_rhythm.py --data-dir "
        f"{args.data_dir} --labels {args.labels}` "
        f"({platform.python_version()}, {time.strftime('%Y-%m-%d')}). Do not edit by hand.",
        "",
        f"**Beat labels: {args.labels}.** "
        + (
            "Each detected beat takes the AAMI class of the reference beat within 150 ms "
            "(unmatched detections are Q): these figures isolate the rhythm logic from the "
            "beat classifier; with ecgmon's own classifier they will be lower where it "
            "mislabels beats."
            if args.labels == "reference"
            else "Beat classes come from ecgmon's own beat classifier."
        ),
        "",
        "Everything runs at 130 Hz on lead MLII (CUDB: its single lead), beats from "
        "ecgmon's streaming QRS detector, streamed in 10 s chunks. Episodes are matched "
        f"by overlap (intervals widened by {TOLERANCE_S} s); duration Se = overlap / "
        "reference time, duration +P = overlap / detected time. Unreadable stretches "
        "count as missed.",
        "",
        "How the thresholds were chosen, never on the figures below: signal quality on "
        "DS1 records mixed with the NSTDB noise-only recordings (`scripts/tune_quality.py`"
        "; its adaptive limit's factor by false alarms under that noise, "
        "`scripts/tune_rhythm.py noise`), not on the NSTDB 118/119 test files; the VF "
        "detector (window, spectral limits, harmonic test) on the odd-numbered CUDB "
        "records, DS1 and the paced records 102 and "
        "107 (the even-numbered CUDB records are reported apart as held out); AF "
        "irregularity, its RR-pattern test, the P-wave coherence limits, which early "
        "beats it leaves out (also on the DS1 records' second lead) and the lower "
        "irregularity thresholds used without P waves, the 3+ V run rate, the "
        "bigeminy/trigeminy "
        "cycle count and the classifier-confidence cut of the ectopy rules on DS1 (the "
        "V-run rate check on DS1 with out-of-fold beat labels); the VF "
        "veto by standing-out QRS, the VF concentration needed below 3.2 Hz and which "
        "short episodes alert on DS1 records mixed with the NSTDB `em` recording at 12 "
        "and 6 dB (the VF rules also on the odd CUDB records). "
        "`scripts/tune_rhythm.py af|ectopy|vf|noise` prints those tuning-set figures. The "
        "tables "
        "show DS1 and the other records apart.",
        "",
        "Pauses and sinus bradycardia: the gap activity at which a long RR interval is a "
        "likely missed beat rather than a pause (`RhythmConfig.pause_missed_beat_ratio`) "
        "on DS1 (`scripts/tune_rhythm.py pause`); the 10 s a sinus bradycardia must be "
        "over before it ends (`brady_end_s`) is set equal to the 10 s it must last to "
        "begin, not tuned (DS1 has no `(SBR`).",
        "",
    ]
    intro_end = len(doc)
    if "mitdb" not in args.skip:
        records = args.records or list(MITDB_RECORDS)
        results = evaluate_mitdb(args.data_dir / "mitdb", records, labeller)
        doc += ["## MIT-BIH Arrhythmia Database", ""]
        doc += mitdb_tables(results, f"All {len(results)} records")
        ds1 = [r for r in results if r.name in DS1]
        if ds1 and len(ds1) != len(results):
            doc += mitdb_tables(ds1, "DS1 records only (where thresholds were chosen)")
            doc += mitdb_tables(
                [r for r in results if r.name not in DS1],
                "Records outside DS1 (never used for choosing thresholds)",
            )
        doc += af_section(results)
        unread = sum(r.unreadable_s for r in results) / max(
            1e-9, sum(r.duration_s for r in results)
        )
        doc += [f"Share of MIT-BIH time reported unreadable: {100 * unread:.2f}%.", ""]
    if "cudb" not in args.skip:
        doc += ["## CUDB: ventricular fibrillation onsets", ""]
        doc += evaluate_cudb(args.data_dir / "cudb", labeller)
    if "nstdb" not in args.skip:
        doc += ["## NSTDB: false alarms under electrode-motion noise", ""]
        doc += evaluate_nstdb(args.data_dir / "nstdb", args.data_dir / "mitdb", labeller)
    doc += [f"Run time {time.time() - started:.0f} s.", ""]
    doc[intro_end:intro_end] = goals_section()
    text = "\n".join(doc)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
