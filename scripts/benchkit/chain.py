"""The chain the end-to-end replay runs: as much of the daemon's data path as exists.

The daemon turns each strap notification into an `EcgFrame`, feeds it to
`monitor.pipeline.Pipeline` (filter -> QRS -> classifier -> quality/VF/rhythm/alerts,
built by `monitor.daemon.runner.build_pipeline`, the daemon's own stage choice), and
hands the frame, the beats and the episodes to the encrypted log sink
(`monitor.daemon.storage.EncryptedLogSink` over `monitor.store.writer.LogWriter`).
`build_chain` assembles exactly that from whatever is installed and names every part
it used or could not use, so the report states the chain it measured.
"""

from __future__ import annotations

import cProfile
import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from monitor.frame import EcgFrame


def has(module: str, attr: str = "") -> bool:
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return False
    return not attr or hasattr(mod, attr)


@dataclass
class Chain:
    """feed(frame) -> beats decided; finish() -> beats still pending; close() the log."""

    labels: list[str]
    missing: list[str]
    feed: Callable[[EcgFrame], int]
    finish: Callable[[], int]
    close: Callable[[], None]
    log_dir: Path | None = None
    counters: dict[str, int] = field(default_factory=dict)
    stage_cpu: dict[str, float] = field(default_factory=dict)
    profiles: dict[str, cProfile.Profile] = field(default_factory=dict)
    layer_cpu: dict[str, float] = field(default_factory=dict)
    """With `timed`: CPU s inside each layer's calls (see `pipeline_layers`), stages included."""
    layer_stages: dict[str, list[str]] = field(default_factory=dict)
    """The stage_cpu names timed inside each layer."""


STAGE_METHODS = ("process", "flush", "write_frame", "write_beats", "write_event", "close")


def time_stages(
    parts: dict[str, object],
    totals: dict[str, float],
    profiles: dict[str, cProfile.Profile] | None = None,
) -> None:
    """Wrap each part's stage methods so their CPU time adds up in `totals[name]`
    (and, given `profiles`, each stage's calls are profiled in `profiles[name]`).

    Only used with 60 s frames: a timer around a 73-sample call would cost a
    noticeable share of the call itself. Stages are called by the pipeline, never by
    each other, so the times do not overlap and one profiler at a time is active.
    """
    for name, obj in parts.items():
        for method in STAGE_METHODS:
            fn = getattr(obj, method, None)
            if not callable(fn):
                continue
            totals.setdefault(name, 0.0)
            prof = None
            if profiles is not None:
                prof = profiles.setdefault(name, cProfile.Profile(time.process_time))

            def timed(
                *args: object,
                _fn: Callable[..., object] = fn,
                _name: str = name,
                _prof: cProfile.Profile | None = prof,
            ) -> object:
                c0 = time.process_time()
                if _prof is not None:
                    _prof.enable()
                try:
                    return _fn(*args)
                finally:
                    if _prof is not None:
                        _prof.disable()
                    totals[_name] += time.process_time() - c0

            setattr(obj, method, timed)


PIPELINE = "pipeline"
RHYTHM_LAYER = "rhythm layer"


def _is_rhythm_layer(obj: object) -> bool:
    return all(hasattr(obj, a) for a in ("_quality", "_vf", "analyzer"))


def pipeline_layers(pipeline: object) -> dict[str, tuple[object, list[str]]]:
    """The objects whose calls contain stages, by name: (object, the stage names called
    inside it, directly or through a layer below). The pipeline holds every stage; a
    RhythmStage holds quality, VF, rhythm and alerts. Timing a layer's calls as well
    as its stages tells its own glue (layer time minus what is inside) from the
    benchmark's loop."""
    parts = pipeline_parts(pipeline)
    layers: dict[str, tuple[object, list[str]]] = {PIPELINE: (pipeline, sorted(parts))}
    for obj in vars(pipeline).values():
        if obj is not None and _is_rhythm_layer(obj):
            inside = sorted(k for k, v in parts.items() if any(v is o for o in vars(obj).values()))
            layers[RHYTHM_LAYER] = (obj, inside)
    return layers


def pipeline_parts(pipeline: object) -> dict[str, object]:
    """The pipeline's stage objects by a readable name (whatever attributes it has)."""
    names = {
        "_filter": "ECG filter",
        "_qrs": "QRS detector",
        "_classifier": "beat classifier",
        "_quality": "signal quality",
        "_vf": "VF detector",
        "_rhythm": "rhythm analysis",
        "_alerts": "alerts",
        "_resampler": "resampler",
    }
    inner = {"analyzer": "_rhythm", "alerts": "_alerts"}
    parts = {}
    for attr, obj in vars(pipeline).items():
        if obj is None or not callable(getattr(obj, "process", None)):
            continue
        if _is_rhythm_layer(obj):
            # A RhythmStage runs quality, VF, rhythm and alerts itself: time those
            # parts, not the stage around them (times must not overlap).
            for sub, sub_obj in vars(obj).items():
                if sub_obj is not None and callable(getattr(sub_obj, "process", None)):
                    parts[names.get(inner.get(sub, sub), sub.strip("_"))] = sub_obj
            continue
        parts[names.get(attr, attr.strip("_"))] = obj
    return parts


def _signal_path(fs: float, timed: bool) -> Chain:
    from monitor.signal.filters import ecg_filter
    from monitor.signal.qrs import QrsDetector

    filt, qrs = ecg_filter(fs), QrsDetector(fs)
    stage_cpu: dict[str, float] = {}
    if timed:
        time_stages({"ECG filter": filt, "QRS detector": qrs}, stage_cpu)

    def feed(frame: EcgFrame) -> int:
        filt.process(frame.samples_uv)
        return int(qrs.process(frame.samples_uv).size)

    return Chain(
        ["0.5-40 Hz filter", "QRS"],
        ["monitor.pipeline (daemon branch)"],
        feed,
        lambda: int(qrs.flush().size),
        lambda: None,
        stage_cpu=stage_cpu,
    )


def _stages_on_main(fs: float, timed: bool) -> Chain:
    """filter -> QRS -> BeatClassifier -> RhythmStage, wired here as the daemon would.

    Used only while monitor.pipeline (the daemon's wiring) is not installed, so the
    classifier and the rhythm layer are measured inside a stream already; the report
    says the wiring is the benchmark's.
    """
    from monitor.signal.filters import ecg_filter
    from monitor.signal.qrs import QrsDetector

    filt, qrs = ecg_filter(fs), QrsDetector(fs)
    parts: dict[str, object] = {"ECG filter": filt, "QRS detector": qrs}
    labels = ["0.5-40 Hz filter", "QRS"]
    missing = [
        "monitor.pipeline (daemon branch): the stages are wired by the benchmark instead",
        "encrypted log: the daemon's sink (daemon branch); the writer alone is measured "
        "under Log writes and storage",
    ]
    classifier = rhythm = None
    if has("monitor.classify.classifier", "BeatClassifier"):
        from monitor.classify.classifier import BeatClassifier

        classifier = BeatClassifier(fs=fs)
        parts["beat classifier"] = classifier
        labels.append("classifier (BeatClassifier, int8 ONNX)")
    if has("monitor.classify.rhythm_stage", "RhythmStage"):
        from monitor.classify.rhythm_stage import RhythmStage

        rhythm = RhythmStage(fs)
        for attr, name in (
            ("_quality", "signal quality"),
            ("_vf", "VF detector"),
            ("analyzer", "rhythm analysis"),
            ("alerts", "alerts"),
        ):
            if getattr(rhythm, attr, None) is not None:
                parts[name] = getattr(rhythm, attr)
        labels.append("rhythm (RhythmStage: quality, VF, rhythm, alerts)")
    stage_cpu: dict[str, float] = {}
    if timed:
        time_stages(parts, stage_cpu)
    counters = {"episodes": 0, "alerts": 0}
    seen = [0]

    def after(beats: list[Any], out: Any) -> int:
        if out is not None:
            counters["episodes"] += len(out.episodes)
            counters["alerts"] += len(out.alerts)
        return len(beats)

    def feed(frame: EcgFrame) -> int:
        x = frame.samples_uv
        filtered = filt.process(x)
        peaks = qrs.process(x)
        seen[0] += x.size
        beats = list(classifier.process(filtered, peaks)) if classifier is not None else []
        out = rhythm.process(x, beats) if rhythm is not None else None
        return after(beats, out) if classifier is not None else int(peaks.size)

    def finish() -> int:
        peaks = qrs.flush()
        if classifier is None:
            return int(peaks.size)
        beats = list(classifier.process(np.empty(0), peaks)) + list(classifier.flush())
        out = rhythm.flush(beats) if rhythm is not None else None
        return after(beats, out)

    return Chain(labels, missing, feed, finish, lambda: None, None, counters, stage_cpu)


def _pipeline() -> tuple[Any, list[str], list[str]]:
    """The daemon's pipeline with every stage it finds, its stage names and what is missing."""
    if has("monitor.daemon.runner", "build_pipeline"):
        runner = importlib.import_module("monitor.daemon.runner")
        pipeline, problems = runner.build_pipeline()
    else:
        pipeline, problems = importlib.import_module("monitor.pipeline").Pipeline(), []
    stages = getattr(getattr(pipeline, "summary", None), "stages", {}) or {}
    labels = ["0.5-40 Hz filter", "QRS"]
    for name, impl in stages.items():
        if impl and impl != "none":
            labels.append(f"{name} ({impl})")
    return pipeline, labels, [str(p) for p in problems]


def _sink(log_dir: Path, clock: Callable[[], float], stream_t0: Callable[[], int]) -> Any:
    from monitor.daemon.storage import EncryptedLogSink
    from monitor.store.keys import Identity
    from monitor.store.writer import LogWriter

    recipients = [Identity.generate().recipient, Identity.generate("clinician").recipient]
    writer = LogWriter(log_dir / "ecgmon-log.sqlite", recipients, clock=clock)
    return EncryptedLogSink(writer, stream_t0)


def build_chain(fs: float, log_dir: Path, timed: bool = False, profile: bool = False) -> Chain:
    """The fullest chain this installation has (see the module docstring); with `timed`,
    the CPU time of each stage is summed in `Chain.stage_cpu` and that of each layer
    around stages (the pipeline, its rhythm layer) in `Chain.layer_cpu`; with
    `profile` (and `timed`), each stage's calls are also profiled in `Chain.profiles`."""
    if not has("monitor.pipeline", "Pipeline"):
        if has("monitor.classify.classifier", "BeatClassifier"):
            return _stages_on_main(fs, timed)
        return _signal_path(fs, timed)
    pipeline, labels, missing = _pipeline()
    stage_cpu: dict[str, float] = {}
    profiles: dict[str, cProfile.Profile] | None = {} if profile else None
    layers = pipeline_layers(pipeline)
    layer_cpu: dict[str, float] = {}
    if timed:
        time_stages(pipeline_parts(pipeline), stage_cpu, profiles)
        # The layers' own calls too, in a separate total (they contain the stages):
        # what a layer spends around its stages is its glue, not the benchmark's.
        time_stages({name: obj for name, (obj, _) in layers.items()}, layer_cpu)
    sink = None
    if has("monitor.daemon.storage", "EncryptedLogSink") and has("monitor.store.writer"):
        state = {"t0": 0, "now": 0.0}
        sink = _sink(log_dir, lambda: state["now"], lambda: int(state["t0"]))
        labels.append("encrypted log (EncryptedLogSink + LogWriter)")
        if timed:
            time_stages({"encrypted log": sink}, stage_cpu, profiles)
    else:
        missing.append("encrypted log: monitor.store / monitor.daemon.storage not installed")
    counters = {"episodes": 0, "alerts": 0}

    def handle(out: Any) -> int:
        beats = list(getattr(out, "beats", []))
        if sink is not None:
            if beats:
                sink.write_beats(beats)
            for ep in getattr(out, "episodes", []):
                t0 = state["t0"]
                end = getattr(ep, "end_s", None)
                sink.write_event(
                    "episode",
                    str(ep.kind),
                    t0 + round(ep.start_s * 1e9),
                    None if end is None else t0 + round(end * 1e9),
                    {"kind": str(ep.kind)},
                )
        counters["episodes"] += len(getattr(out, "episodes", []))
        counters["alerts"] += len(getattr(out, "alerts", []))
        return len(beats)

    def feed(frame: EcgFrame) -> int:
        if sink is not None:
            if not state["t0"]:
                state["t0"] = frame.t0_ns
            state["now"] = (frame.t0_ns - state["t0"]) / 1e9
        out = pipeline.process(frame)
        if sink is not None:
            sink.write_frame(frame)
        return handle(out)

    def finish() -> int:
        return handle(pipeline.flush())

    def close() -> None:
        if sink is not None:
            sink.close()

    return Chain(
        labels,
        missing,
        feed,
        finish,
        close,
        log_dir if sink else None,
        counters,
        stage_cpu,
        profiles or {},
        layer_cpu=layer_cpu,
        layer_stages={name: inside for name, (_, inside) in layers.items()} if timed else {},
    )


def frame_of(samples_uv: np.ndarray, t0_ns: int, fs: float) -> EcgFrame:
    return EcgFrame(t0_ns, fs, np.asarray(samples_uv, dtype=np.float64))
