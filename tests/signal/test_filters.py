"""The runtime filter and the resampler: streaming equals whole-record."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal

from monitor.signal import filters
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


# -- the direct SOS kernel gives what scipy.signal.sosfilt gives ---------------------------


def _sosfilt_stream(sos: np.ndarray, pieces: list[np.ndarray]) -> np.ndarray:
    """The filter as it was written before: public `sosfilt`, state settled on sample 0."""
    zi = None
    out = []
    for piece in pieces:
        if piece.size == 0:
            continue
        if zi is None:
            zi = signal.sosfilt_zi(sos) * piece[0]
        y, zi = signal.sosfilt(sos, piece, zi=zi)
        out.append(y)
    return np.concatenate(out) if out else np.empty(0)


def test_the_fast_kernel_is_in_use() -> None:
    """scipy still has the kernel and it passed the import-time check (else the public,
    slower sosfilt runs, with the same output: this test says which one is measured)."""
    assert filters._SOS_KERNEL is not None


@settings(max_examples=60, deadline=None)
@given(
    cuts=st.lists(st.integers(0, 3000), max_size=20),
    band=st.sampled_from([(0.5, 40.0), (5.0, 18.0), (1.0, 30.0), (15.0, 58.0)]),
    scale=st.sampled_from([1.0, 1e-3, 100.0]),  # within the guard's limits
)
def test_streaming_filter_equals_public_sosfilt_bit_for_bit(
    cuts: list[int], band: tuple[float, float], scale: float
) -> None:
    x = np.random.default_rng(5).normal(0, 300, 3000).cumsum() * scale + 1234.0
    sos = filters.bandpass_sos(130.0, *band)
    pieces = _split(x, cuts)
    stream = filters.StreamingSosFilter(sos)
    got = np.concatenate([stream.process(p) for p in pieces])
    assert np.array_equal(got, _sosfilt_stream(sos, pieces))
    again = filters.StreamingSosFilter(sos)  # the guarded entry gives the same
    assert np.array_equal(np.concatenate([again.process_guarded(p) for p in pieces]), got)


def test_reset_settles_on_the_next_sample_again() -> None:
    sos = filters.bandpass_sos(130.0, 0.5, 40.0)
    x = np.random.default_rng(9).normal(0, 100, 500) + 700.0
    stream = filters.StreamingSosFilter(sos)
    stream.process(x[:200])
    stream.reset()
    assert np.array_equal(stream.process(x[200:]), _sosfilt_stream(sos, [x[200:]]))
    assert stream.process(np.empty(0)).size == 0
