"""How the shipped int8 model's labels depend on onnxruntime's graph optimisation level.

onnxruntime runs a QDQ int8 model in one of two ways: with graph optimisations on it
may fuse DequantizeLinear -> op -> QuantizeLinear groups into integer kernels
(QLinearConv, QGemm, ...), whose arithmetic (rounding, saturation, the instruction
set of the CPU) is not that of the graph as written; with them off it runs the graph
as written (dequantise, float op, quantise). Which beats change label therefore
depends on the level and the machine. This script measures, on MIT-BIH DS1 only (the
training records; DS2 is not read), for each level:

each path (the four levels, and ORT_ENABLE_ALL with QDQ fusion turned off by the
session config entry `session.disable_quant_qdq`):

- how many beats the int8 model labels differently from the float32 model (the
  float32 model at ORT_DISABLE_ALL is the reference; the float32 model on the same
  path is shown too, to show whether the reference itself moves),
- the macro F1 (N S V F) of the int8 labels on DS1, end to end (detected beats),
- the model's CPU time per beat in batches of 1024 on one thread, the paths
  interleaved round by round (the machine is shared: interleaving keeps conditions
  alike), and its ratio to that of onnxruntime's default path (ORT_ENABLE_ALL with QDQ
  fusion, what ecgmon used before it set the level; median of the per-round ratios).

Decision rule, stated before the measurement: the path with the fewest int8-vs-float32
disagreements on DS1, among those at most 20 us/beat and at most 2x the default
path's time; equal counts go to the faster path. (When tied paths give bit-identical
outputs and their times differ by less than the run-to-run spread, the "faster" pick
is noise: monitor.classify.model.GRAPH_OPTIMIZATION says how that tie was settled.)

    python scripts/compare_int8_paths.py --data-dir ../shared/data/mitdb
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from monitor.classify import features as feat
from monitor.classify.beat import BEAT_CLASSES
from monitor.classify.model import (
    GRAPH_OPTIMIZATION,
    OPTIMIZATION_LEVELS,
    QDQ_FUSION,
    BeatModel,
    model_dir,
)
from monitor.classify.scoring import confusion, macro_f1
from monitor.evaluation import DS1, default_data_dir

sys.path.insert(0, str(Path(__file__).resolve().parent))
import beatdata

BATCH = 1024


def probabilities(
    model: BeatModel, waves: list[np.ndarray], contexts: list[np.ndarray]
) -> np.ndarray:
    """Every record's beats, record by record (as the runtime sees them)."""
    return np.concatenate([model.predict(w, c) for w, c in zip(waves, contexts, strict=True)])


def labels(model: BeatModel, waves: list[np.ndarray], contexts: list[np.ndarray]) -> np.ndarray:
    """Argmax labels of every record's beats."""
    return probabilities(model, waves, contexts).argmax(1)


OrtPath = tuple[str, bool]
"""(graph optimisation level, QDQ fusion allowed)."""

PATHS: tuple[OrtPath, ...] = (
    *((lv, True) for lv in OPTIMIZATION_LEVELS),
    ("ORT_ENABLE_ALL", False),
)


def path_name(path: OrtPath) -> str:
    return path[0] + ("" if path[1] else " no QDQ fusion")


def cpu_us_per_beat(
    models: dict[OrtPath, BeatModel], wave: np.ndarray, context: np.ndarray, rounds: int
) -> dict[OrtPath, np.ndarray]:
    """CPU time per beat of one batch, each round, the models interleaved and rotated."""
    names = list(models)
    times: dict[OrtPath, list[float]] = {n: [] for n in names}
    for m in models.values():
        m.predict(wave, context)
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for n in order:
            t0 = time.process_time()
            models[n].predict(wave, context)
            times[n].append(time.process_time() - t0)
    return {n: 1e6 * np.array(t) / len(wave) for n, t in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--cache-dir", type=Path, default=Path("/tmp/ecgmon-beat-cache"))
    parser.add_argument("--model", default="beat-student-int8")
    parser.add_argument("--reference", default="beat-student-fp32")
    parser.add_argument("--rounds", type=int, default=101)
    args = parser.parse_args(argv)

    records = beatdata.load(args.data_dir, list(DS1), args.cache_dir)
    feats = [feat.featurize(rb.filtered, rb.detected) for rb in records]
    waves = [w for w, _ in feats]
    contexts = [c for _, c in feats]
    folder = model_dir()

    def session(name: str, path: OrtPath) -> BeatModel:
        return BeatModel(
            folder / f"{name}.onnx", threads=1, optimization=path[0], qdq_fusion=path[1]
        )

    int8 = {p: session(args.model, p) for p in PATHS}
    fp32 = {p: session(args.reference, p) for p in PATHS}
    now: OrtPath = (GRAPH_OPTIMIZATION, QDQ_FUSION)
    default: OrtPath = ("ORT_ENABLE_ALL", True)
    ref = labels(fp32[("ORT_DISABLE_ALL", True)], waves, contexts)
    current = labels(int8[now], waves, contexts)
    n = ref.size
    wave = np.concatenate(waves)[:BATCH]
    context = np.concatenate(contexts)[:BATCH]
    times = cpu_us_per_beat(int8, wave, context, args.rounds)

    print(f"DS1: {len(records)} records, {n} detected beats; current path {path_name(now)}")
    print("ratio: CPU time per beat / that of onnxruntime's default path (ORT_ENABLE_ALL)")
    print(
        "| path | int8 vs fp32 (beats) | rate | fp32 on path vs fp32 DISABLE_ALL | "
        "int8 vs int8 current | DS1 macro F1 int8 | us/beat int8 | x default |"
    )
    print("|---|---|---|---|---|---|---|---|")
    rows = []
    probs: dict[OrtPath, np.ndarray] = {}
    for p in PATHS:
        probs[p] = probabilities(int8[p], waves, contexts)
        q = probs[p].argmax(1)
        f = labels(fp32[p], waves, contexts)
        k_cls = len(BEAT_CLASSES) + 1
        cm = np.zeros((k_cls, k_cls), np.int64)
        start = 0
        for rb in records:
            k = rb.detected.size
            cm += confusion(rb.ref_label, q[start : start + k], rb.match)
            start += k
        diff = int(np.sum(q != ref))
        us = float(np.median(times[p]))
        ratio = float(np.median(times[p] / times[default]))
        rows.append((p, diff, us, ratio))
        print(
            f"| {path_name(p)} | {diff} | {diff / n:.4%} | {int(np.sum(f != ref))} | "
            f"{int(np.sum(q != current))} | {macro_f1(cm):.2f} | {us:.2f} | {ratio:.2f} |"
        )
    allowed = [r for r in rows if r[2] <= 20.0 and r[3] <= 2.0]
    fewest = min(r[1] for r in allowed)
    tied = sorted((r for r in allowed if r[1] == fewest), key=lambda r: r[2])
    print(f"allowed (<= 20 us/beat, <= 2x default): {', '.join(path_name(r[0]) for r in allowed)}")
    print(f"fewest disagreements ({fewest}): {', '.join(path_name(r[0]) for r in tied)}")
    if len(tied) > 1:
        same = all(np.array_equal(probs[r[0]], probs[tied[0][0]]) for r in tied)
        spread = max(r[2] for r in tied) / min(r[2] for r in tied) - 1
        print(
            f"  their outputs bit-identical: {'yes' if same else 'no'}; "
            f"fastest this run {path_name(tied[0][0])}, slowest +{spread:.1%}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
