"""The synchronous pipeline: same beats whatever the framing, honest placeholders."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.daemon.protocol import Decimator
from monitor.frame import EcgFrame
from monitor.pipeline import UNCLASSIFIED, Pipeline
from monitor.signal.resample import resample_record
from tests.daemon.synthetic import FS, synthetic_ecg


def run(x: np.ndarray, frame: int, fs: float = FS) -> tuple[Pipeline, list[int], np.ndarray]:
    pipeline = Pipeline()
    beats: list[int] = []
    trace: list[np.ndarray] = []
    for lo in range(0, x.size, frame):
        out = pipeline.process(EcgFrame(0, fs, x[lo : lo + frame]))
        beats += [b.index for b in out.beats]
        trace.append(out.trace_uv)
    out = pipeline.flush()
    beats += [b.index for b in out.beats]
    trace.append(out.trace_uv)
    return pipeline, beats, np.concatenate(trace)


def test_finds_every_synthetic_beat_and_labels_them_unclassified() -> None:
    x, truth = synthetic_ecg(60.0)
    pipeline, beats, trace = run(x, 73)
    assert len(beats) == len(truth)
    assert np.max(np.abs(np.asarray(beats) - truth)) <= 2  # within 15 ms at 130 Hz
    assert trace.size == x.size
    summary = pipeline.summary
    assert summary.counts[UNCLASSIFIED] == len(truth)
    assert all(summary.counts[c] == 0 for c in "NSVFQ")
    assert set(summary.stages.values()) == {"none"}
    assert summary.rhythm is None and summary.quality is None
    assert summary.heart_rate_bpm is not None and abs(summary.heart_rate_bpm - 75.0) < 1.0


def test_framing_does_not_change_the_result() -> None:
    x, _ = synthetic_ecg(30.0)
    _, a, ta = run(x, 73)
    _, b, tb = run(x, 1000)
    assert a == b
    np.testing.assert_allclose(ta, tb, rtol=0, atol=1e-9)


def test_other_input_rates_are_resampled_to_the_working_rate() -> None:
    x, truth = synthetic_ecg(30.0)
    x250 = resample_record(x, FS, 250.0)
    pipeline, beats, _ = run(x250, 125, fs=250.0)
    assert abs(len(beats) - len(truth)) <= 1
    assert pipeline.fs == FS


def test_heart_rate_is_forgotten_when_beats_stop() -> None:
    x, _ = synthetic_ecg(20.0)
    flat = np.full(int(12 * FS), x[-1])
    pipeline = Pipeline()
    pipeline.process(EcgFrame(0, FS, x))
    assert pipeline.summary.heart_rate_bpm is not None
    pipeline.process(EcgFrame(0, FS, flat))
    assert pipeline.summary.heart_rate_bpm is None


@settings(deadline=None, max_examples=50)
@given(
    st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=30),
    st.integers(min_value=2, max_value=4),
)
def test_decimation_is_exact_across_frames(sizes: list[int], factor: int) -> None:
    rng = np.random.default_rng(sum(sizes))
    x = rng.standard_normal(sum(sizes)) * 100
    whole = Decimator(factor)
    _, expected = whole.process(x)
    split = Decimator(factor)
    got: list[np.ndarray] = []
    at = 0
    for n in sizes:
        start, values = split.process(x[at : at + n])
        assert start == sum(v.size for v in got)
        got.append(values)
        at += n
    np.testing.assert_array_equal(np.concatenate(got) if got else np.empty(0), expected)
    # Peak-preserving: each kept value is the largest magnitude of its block.
    blocks = x[: expected.size * factor].reshape(-1, factor)
    np.testing.assert_array_equal(np.abs(expected), np.abs(blocks).max(axis=1))


def test_a_gap_restarts_detection_and_counts_in_stream_time() -> None:
    x, truth = synthetic_ecg(40.0)
    half = 20 * int(FS)
    pipeline = Pipeline()
    beats = []
    for lo in range(0, half, 73):
        beats += pipeline.process(EcgFrame(0, FS, x[lo : min(lo + 73, half)])).beats
    beats += pipeline.gap(4.5).beats
    resumed_at = pipeline.stream_time_s
    assert resumed_at == pytest.approx(half / FS + 4.5, abs=1e-9)  # no rhythm layer: no rounding
    after = []
    for lo in range(half, x.size, 73):
        after += pipeline.process(EcgFrame(0, FS, x[lo : lo + 73])).beats
    after += pipeline.flush().beats
    assert beats[-1].rr_after_s is None and after[0].rr_before_s is None
    shift = round(4.5 * FS)
    expected = truth[truth >= half] + shift
    found = np.array([b.index for b in after])
    assert abs(found.size - expected.size) <= 1
    # placed in stream time (the first beat after the restart lands while the fresh
    # filters settle, so it is held to a looser bound)
    assert np.min(np.abs(expected - found[0])) <= 8
    assert all(np.min(np.abs(expected - i)) <= 2 for i in found[1:])
    assert all(b.time_s == pytest.approx(b.index / FS) for b in after)


def test_the_daemon_sees_a_timestamp_gap_the_source_did_not_report() -> None:
    from monitor.daemon.config import DaemonConfig
    from monitor.daemon.service import Daemon
    from monitor.daemon.sources import ReplaySource

    x, _ = synthetic_ecg(30.0)
    daemon = Daemon(DaemonConfig(), ReplaySource.__new__(ReplaySource), Pipeline())
    t_ns = 10**12
    for lo in range(0, x.size - 73 + 1, 73):
        if lo == 73 * 20:
            t_ns += 3 * 10**9  # three seconds of frames never came, and nobody said so
        daemon._on_frame(EcgFrame(t_ns, FS, x[lo : lo + 73]))
        t_ns += 73 * 10**9 // 130
    assert daemon.alerts.is_active("gap")
    lost = daemon.pipeline.stream_time_s - (x.size // 73 * 73) / FS
    assert lost == pytest.approx(3.0, abs=0.01)
    # the origin moved with the gap: the last frame's stream time maps to its host time
    last_t0 = t_ns - 73 * 10**9 // 130
    end_s = daemon.pipeline.stream_time_s
    assert daemon.stream_t0_ns is not None
    assert daemon.stream_t0_ns + round((end_s - 73 / FS) * 1e9) == pytest.approx(last_t0, abs=1e6)
