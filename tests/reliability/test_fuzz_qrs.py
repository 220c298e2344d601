"""Bad input to the streaming QRS detector: garbage in, no crash, and the stream still works.

The detector sits right behind the strap, so it sees whatever a loose electrode, a
corrupted frame or a bad CSV delivers: NaN, inf, values far beyond the strap's 24-bit
range, flat lines, chunks of any size including empty ones. Its documented contract:
non-finite samples are held at the last finite value, a bad rate is a ValueError, and
the output is the same whatever the chunking. Impossible values (beyond a strap's
24-bit range) are clamped by the input guard in front of every filter.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.signal.qrs import QrsDetector, detect_qrs

from .conftest import Tally, fuzz

FUZZ = fuzz(400)

PMD_FULL_SCALE_UV = float(2**23 - 1)
"""The largest magnitude a Polar H10 PMD frame can carry (24-bit signed microvolts)."""


def synthetic_ecg(seconds: float, fs: float, rr_s: float = 0.8, seed: int = 0) -> np.ndarray:
    """A plain sinus-like ECG (Gaussian Q-R-S and T), enough to drive every code path."""
    t = np.arange(round(seconds * fs)) / fs
    x = np.zeros_like(t)
    for b in np.arange(0.7, seconds, rr_s):
        x += 1200 * np.exp(-0.5 * ((t - b) / 0.012) ** 2)
        x -= 200 * np.exp(-0.5 * ((t - b - 0.03) / 0.015) ** 2)
        x += 250 * np.exp(-0.5 * ((t - b - 0.3) / 0.05) ** 2)
    return x + np.random.default_rng(seed).normal(0, 20, t.size)


_garbage_value = st.one_of(
    st.sampled_from(
        [np.nan, np.inf, -np.inf, 1e308, -1e308, PMD_FULL_SCALE_UV, -PMD_FULL_SCALE_UV, 0.0, 5e-324]
    ),
    st.floats(allow_nan=True, allow_infinity=True),
)
_strap_value = st.one_of(
    st.sampled_from([np.nan, np.inf, -np.inf, PMD_FULL_SCALE_UV, -PMD_FULL_SCALE_UV, 0.0]),
    st.floats(-PMD_FULL_SCALE_UV, PMD_FULL_SCALE_UV),
)
"""What a strap can deliver (24-bit microvolts) plus lost samples (NaN, inf)."""
_strap_corruption = st.tuples(st.floats(0.0, 1.0), st.integers(1, 600), _strap_value, st.booleans())
_corruption = st.tuples(
    st.floats(0.0, 1.0),  # where, as a fraction of the signal
    st.integers(1, 600),  # how many samples
    _garbage_value,
    st.booleans(),  # constant run, or the value scaled by random noise
)


def corrupt(x: np.ndarray, ops: list[tuple[float, int, float, bool]], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y = x.copy()
    for where, n, value, constant in ops:
        i = round(where * (y.size - 1))
        seg = y[i : i + n]
        with np.errstate(all="ignore"):
            seg[:] = value if constant else value * rng.standard_normal(seg.size)
    return y


def split(x: np.ndarray, cuts: list[int]) -> list[np.ndarray]:
    """Chunks at the given cut points, keeping empty chunks (a real stream can send them)."""
    points = sorted(c % (x.size + 1) for c in cuts)
    return np.split(x, points)


_streams = {
    "fs": st.sampled_from([100.0, 130.0, 250.0, 360.0, 1000.0]),
    "seconds": st.floats(0.0, 20.0),
    "ops": st.lists(_corruption, max_size=6),
    "cuts": st.lists(st.integers(0, 20_000), max_size=15),
    "seed": st.integers(0, 2**16),
}


def run_both(
    fs: float, seconds: float, ops: list[tuple[float, int, float, bool]], cuts: list[int], seed: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """R-peaks of the corrupted signal in one call and streamed in chunks, and its length."""
    x = corrupt(synthetic_ecg(seconds, fs, seed=seed), ops, seed)
    with np.errstate(all="ignore"):  # overflow warnings are not the contract here
        whole = detect_qrs(x, fs)
        det = QrsDetector(fs)
        parts = [det.process(c) for c in split(x, cuts)]
        parts.append(det.flush())
    return whole, np.concatenate(parts), x.size


@fuzz(800)
@given(**{**_streams, "ops": st.lists(st.one_of(_corruption, _strap_corruption), max_size=6)})
def test_garbage_never_crashes_the_detector_and_chunking_never_matters(
    fs: float,
    seconds: float,
    ops: list[tuple[float, int, float, bool]],
    cuts: list[int],
    seed: int,
    tally: Tally,
) -> None:
    """Synthetic ECG with runs of what a strap can deliver (24-bit values, NaN and inf for
    lost samples) and of any float (+-1e308, subnormals) at random places, the very first
    sample included, fed in random chunks (empty ones included): no exception, the
    R-peaks are int64, strictly increasing and inside the stream, and the chunked output
    equals the one-call output. (Before the input guard chunking mattered beyond the
    strap's 24-bit range: finding R2b.)"""
    tally.case()
    whole, streamed, n = run_both(fs, seconds, ops, cuts, seed)
    assert streamed.dtype == np.int64
    assert np.all(np.diff(streamed) > 0)
    assert streamed.size == 0 or (streamed[0] >= 0 and streamed[-1] < max(n, 1))
    assert np.array_equal(whole, streamed)


def test_chunking_never_matters_when_the_stream_starts_flat(tally: Tally) -> None:
    """Regression for finding R2 (a stream starting flat gave an extra beat when cut;
    fixed on main by the feature floor): 100 Hz, 5 s, the first 2 s constant at 0.875,
    cut at sample 23, once gave an extra beat at 13."""
    tally.case()
    x = synthetic_ecg(5.0, 100.0)
    x[:200] = 0.875
    det = QrsDetector(100.0)
    streamed = np.concatenate([det.process(x[:23]), det.process(x[23:]), det.flush()])
    assert np.array_equal(detect_qrs(x, 100.0), streamed)


@pytest.mark.parametrize("fs", [float("nan"), float("inf"), -130.0, 0.0, 99.9, 1000.1, 1e9])
def test_unsupported_rate_is_a_value_error(fs: float, tally: Tally) -> None:
    """A rate outside 100-1000 Hz (or not a number) is refused up front."""
    tally.case()
    with pytest.raises(ValueError, match="outside the supported"):
        QrsDetector(fs)


@FUZZ
@given(n=st.integers(0, 5000), value=_garbage_value, fs=st.sampled_from([100.0, 130.0, 1000.0]))
def test_a_constant_stream_flushes_cleanly(n: int, value: float, fs: float, tally: Tally) -> None:
    """A stream that is nothing but one value (a strap reporting a constant, NaN, inf):
    no exception, increasing output, and a second flush adds nothing."""
    tally.case()
    det = QrsDetector(fs)
    with np.errstate(all="ignore"):
        out = np.concatenate([det.process(np.full(n, value)), det.flush()])
        again = det.flush()
    assert np.all(np.diff(out) > 0)
    assert again.size == 0


def test_chunking_never_matters_after_a_huge_constant_start(tally: Tally) -> None:
    """Regression for finding R2b (after a start far beyond the strap's range the R-peaks
    depended on the chunking; fixed by the input guard, monitor/signal/sanitise.py):
    250 Hz, 0.5 s, sample 0 NaN, the first 124 samples 5.4e15, the last sample NaN, cut
    at sample 22, once gave [5, 77] in one call and [5, 65] chunked."""
    tally.case()
    ops = [(0.0, 1, np.nan, False), (0.0, 124, 5425639499911849.0, True), (1.0, 1, np.nan, False)]
    whole, streamed, _ = run_both(250.0, 0.5, ops, [22], 0)
    assert np.array_equal(whole, streamed)


@pytest.mark.parametrize(
    "value",
    [0.0, 7.0, -3000.0, PMD_FULL_SCALE_UV, 1e200, 1e300, -1e308, np.inf, -np.inf, np.nan],
)
def test_a_flat_line_has_no_beats(value: float, tally: Tally) -> None:
    """A flat line (electrodes not touching, a strap sending a constant) is not a heart
    beat, whatever the constant. Regression for finding R3 (1e300 once gave a beat: the
    settled filter state overflowed)."""
    tally.case()
    with np.errstate(all="ignore"):
        assert detect_qrs(np.full(13_000, value), 130.0).size == 0


@pytest.mark.parametrize("value", [1e300, -1e308, 5.4e15])
def test_an_impossible_start_does_not_hide_the_beats_after_it(value: float, tally: Tally) -> None:
    """Two seconds of an impossible value, then ECG: the beats are found exactly as if
    the stream had started with the strap at full scale (the value is clamped), and
    detection has resumed well before the end (every beat of the last 10 s)."""
    tally.case()
    x = synthetic_ecg(30.0, 130.0)
    clamped = x.copy()
    x[:260] = value
    clamped[:260] = np.sign(value) * PMD_FULL_SCALE_UV
    with np.errstate(all="ignore"):
        found = detect_qrs(x, 130.0)
    assert np.array_equal(found, detect_qrs(clamped, 130.0))
    truth = np.round(np.arange(0.7, 30.0, 0.8) * 130.0)
    late = truth[truth >= 20 * 130.0]
    assert all(np.abs(found - t).min() <= 10 for t in late)
