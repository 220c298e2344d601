"""The runtime filter and the resampler: streaming equals whole-record."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal

from monitor.signal.filters import check_fs, ecg_filter, filter_ecg
from monitor.signal.resample import StreamingResampler, resample_record


def _split(x: np.ndarray, cuts: list[int]) -> list[np.ndarray]:
    points = sorted({c % (x.size + 1) for c in cuts})
    return np.split(x, points)


@settings(max_examples=60, deadline=None)
@given(
    cuts=st.lists(st.integers(0, 5000), max_size=12),
    fs=st.sampled_from([100.0, 130.0, 360.0, 1000.0]),
)
def test_ecg_filter_is_chunk_invariant(cuts: list[int], fs: float) -> None:
    x = np.random.default_rng(7).normal(0, 300, 5000).cumsum()
    whole = filter_ecg(x, fs)
    stream = ecg_filter(fs)
    pieces = np.concatenate([stream.process(p) for p in _split(x, cuts)])
    assert np.array_equal(whole, pieces)


def test_ecg_filter_removes_baseline_and_keeps_qrs_band() -> None:
    fs = 130.0
    t = np.arange(int(60 * fs)) / fs
    wander = 2000 * np.sin(2 * np.pi * 0.1 * t)
    qrs_band = 500 * np.sin(2 * np.pi * 10 * t)
    y = filter_ecg(wander + qrs_band + 1500.0, fs)[int(20 * fs) :]
    # 0.1 Hz wander and the DC offset are attenuated far below the 10 Hz content.
    residual = y - filter_ecg(qrs_band, fs)[int(20 * fs) :]
    assert np.max(np.abs(residual)) < 0.1 * 2000
    assert np.std(y) == pytest.approx(500 / np.sqrt(2), rel=0.1)


def test_filter_starts_without_transient_on_dc_offset() -> None:
    y = filter_ecg(np.full(1000, -3000.0), 130.0)
    assert np.max(np.abs(y)) < 1e-6


@pytest.mark.parametrize("fs", [99.0, 1001.0, float("nan"), 0.0])
def test_unsupported_rate_is_refused(fs: float) -> None:
    with pytest.raises(ValueError, match="outside the supported"):
        check_fs(fs)


@pytest.mark.parametrize(("fs_in", "fs_out"), [(360.0, 130.0), (250.0, 130.0), (130.0, 360.0)])
def test_streaming_resampler_matches_resample_poly(fs_in: float, fs_out: float) -> None:
    rng = np.random.default_rng(3)
    x = signal.lfilter([1.0], [1.0, -0.95], rng.normal(size=int(20 * fs_in)))
    whole = resample_record(x, fs_in, fs_out)
    rs = StreamingResampler(fs_in, fs_out)
    parts = [rs.process(p) for p in np.array_split(x, 37)]
    parts.append(rs.flush())
    stream = np.concatenate(parts)
    assert stream.size == whole.size
    np.testing.assert_allclose(stream, whole, atol=1e-9 * np.max(np.abs(x)))
