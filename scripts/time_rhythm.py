"""CPU time of `RhythmAnalyzer` alone over the 48 MIT-BIH records (about 24 h).

The beats (QRS detector + beat classifier, or reference labels) and the quality and
VF verdicts of every chunk are computed once and cached (pickle, outside the repo),
so that the timing covers the rhythm rules only, fed chunk by chunk as a live
pipeline would. With ``--compare module.path`` the same inputs also go through
another implementation (e.g. ``tests.rhythm.rhythm_oracle``), runs alternate
between the two (the machine is shared: alternating keeps the conditions alike), the
best of ``--repeats`` is printed for each, and their events are checked identical.

The analyzer is timed on beats and verdicts alone (as the oracle takes them) and
again with the atrial evidence (P-wave coherence per beat, which changes AF
decisions), and `monitor.classify.atrial.AtrialActivity` itself (feeding the samples
and measuring the beats, 10 s chunks) is timed apart: the rhythm stage's added cost
is the difference of the first two plus the third.

    python scripts/time_rhythm.py --data-dir ../shared/data --compare tests.rhythm.rhythm_oracle
"""

from __future__ import annotations

import argparse
import importlib
import pickle
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from monitor.evaluation import MITDB_RECORDS, default_data_dir, load_reference
from monitor.signal import WORKING_FS
from monitor.signal.qrs import detect_qrs
from monitor.signal.resample import resample_record

Chunks = list[tuple[list[Any], list[Any], list[Any]]]


def _chunks(x: np.ndarray, beats: Sequence[Any], chunk_s: float) -> Chunks:
    """What `run_rhythm` hands the analyzer per chunk: (beats, quality, vf)."""
    from monitor.classify.vf import VfDetector
    from monitor.signal.quality import SignalQuality

    quality = SignalQuality(WORKING_FS)
    vf = VfDetector(WORKING_FS)
    step = max(1, round(chunk_s * WORKING_FS))
    ordered = sorted(beats, key=lambda b: b.time_s)
    out: Chunks = []
    b = 0
    for start in range(0, x.size, step):
        chunk = x[start : start + step]
        end_s = (start + chunk.size) / WORKING_FS
        first = b
        while b < len(ordered) and ordered[b].time_s < end_s:
            b += 1
        out.append((ordered[first:b], quality.process(chunk), vf.process(chunk)))
    out.append((ordered[b:], quality.flush(), vf.flush()))
    return out


def build(data_dir: Path, labels: str, chunk_sizes: Sequence[float]) -> dict[str, Chunks]:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from evaluate_rhythm import RefLike, model_labeller, reference_labeller

    labeller = model_labeller() if labels == "model" else reference_labeller
    cache: dict[str, Chunks] = {}
    for rec in MITDB_RECORDS:
        ref = load_reference(data_dir / "mitdb" / rec)
        x = resample_record(ref.samples_uv, ref.fs, WORKING_FS)
        peaks = detect_qrs(x, WORKING_FS)
        beats = labeller(x, peaks, RefLike(ref.fs, ref.beat_samples, ref.beat_symbols))
        for size in chunk_sizes:
            cache[f"{rec}@{size:g}"] = _chunks(x, beats, size)
        print(f"cached {rec}", file=sys.stderr)
    return cache


Atrial = dict[str, list[list[tuple[int, float | None]]]]


def replay(
    module: Any, cache: dict[str, Chunks], atrial: Atrial | None = None
) -> tuple[float, dict[str, list[Any]]]:
    """CPU seconds of all records through `module.RhythmAnalyzer`, and their events
    (with `atrial`: each chunk's (beat index, P-wave coherence) pairs fed too)."""
    events: dict[str, list[Any]] = {}
    spent = 0.0
    for key, chunks in cache.items():
        analyzer = module.RhythmAnalyzer()
        got: list[Any] = []
        pairs = atrial[key] if atrial is not None else None
        t0 = time.process_time()
        for i, (beats, quality, vf) in enumerate(chunks):
            if pairs is None:
                got += analyzer.process(beats, quality, vf)
            else:
                got += analyzer.process(beats, quality, vf, pairs[i])
        got += analyzer.flush()
        spent += time.process_time() - t0
        events[key] = got
    return spent, events


def atrial_inputs(data_dir: Path, cache: dict[str, Chunks]) -> tuple[float, Atrial]:
    """CPU seconds of `AtrialActivity` over every record (samples in the chunks of
    each cached run), and the (beat index, coherence) pairs per chunk."""
    from monitor.classify.atrial import AtrialActivity
    from monitor.classify.rhythm import atrial_pairs

    spent = 0.0
    pairs: Atrial = {}
    signals: dict[str, np.ndarray] = {}
    for key, chunks in cache.items():
        rec, size = key.split("@")
        if rec not in signals:
            ref = load_reference(data_dir / "mitdb" / rec)
            signals = {rec: resample_record(ref.samples_uv, ref.fs, WORKING_FS)}
        x = signals[rec]
        step = max(1, round(float(size) * WORKING_FS))
        atrial = AtrialActivity(WORKING_FS)
        got: list[list[tuple[int, float | None]]] = []
        t0 = time.process_time()
        for i, (beats, _, _) in enumerate(chunks):
            atrial.feed(x[i * step : (i + 1) * step])
            got.append(atrial_pairs(atrial, beats))
        spent += time.process_time() - t0
        pairs[key] = got
    return spent, pairs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--labels", choices=["model", "reference"], default="model")
    parser.add_argument("--chunks", type=float, nargs="+", default=[60.0, 10.0])
    parser.add_argument("--cache", type=Path, default=Path("/tmp/ecgmon-rhythm-inputs.pkl"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--module", default="monitor.classify.rhythm")
    parser.add_argument("--compare", default=None, help="another module to time and check")
    args = parser.parse_args(argv)

    if args.cache.exists():
        cache = pickle.loads(args.cache.read_bytes())
    else:
        cache = build(args.data_dir, args.labels, args.chunks)
        args.cache.write_bytes(pickle.dumps(cache))
    hours = (
        sum(chunks[-2][1][-1].index + 1 if chunks[-2][1] else 0 for k, chunks in cache.items())
        / 3600.0
    )
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # (for tests.rhythm.*)
    modules = [args.module] + ([args.compare] if args.compare else [])
    loaded = [importlib.import_module(m) for m in modules]
    best = {m: float("inf") for m in modules}
    results: dict[str, dict[str, list[Any]]] = {}
    for _ in range(args.repeats):
        for name, module in zip(modules, loaded, strict=True):
            spent, results[name] = replay(module, cache)
            best[name] = min(best[name], spent)
    print(f"{len(cache)} record x chunk-size runs, {hours:.2f} h of ECG in all")
    for name in modules:
        print(f"{name}: {best[name]:.3f} CPU s (best of {args.repeats})")
    atrial_s, atrial = atrial_inputs(args.data_dir, cache)
    with_atrial = min(replay(loaded[0], cache, atrial)[0] for _ in range(args.repeats))
    print(f"{args.module} with the atrial evidence: {with_atrial:.3f} CPU s")
    print(f"AtrialActivity (feed + measure): {atrial_s:.3f} CPU s (once)")
    if args.compare:
        a, b = (results[m] for m in modules)
        differ = [k for k in a if repr(a[k]) != repr(b[k])]
        print("events identical" if not differ else f"events DIFFER in {differ}")
        return 1 if differ else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
