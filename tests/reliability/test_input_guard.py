"""Bad input to the signal path's input guard: every filter sees finite, possible values.

`monitor.signal.sanitise` sits in front of every streaming filter (QRS detector, ECG
filter, quality, VF). Its contract: the output is finite and within the sensor's
24-bit range, lost samples are held at the last good value, real ECG passes as the
very same array, the chunking never matters, and what was changed is counted.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from monitor.signal.filters import StreamingSosFilter, bandpass_sos, filter_ecg
from monitor.signal.sanitise import PHYSICAL_LIMIT_UV, InputGuard, sanitise

from .conftest import Tally, fuzz

FUZZ = fuzz(500)

_any_float = st.floats(allow_nan=True, allow_infinity=True, width=64)
_streams = hnp.arrays(np.float64, st.integers(0, 400), elements=_any_float)
_cuts = st.lists(st.integers(0, 400), max_size=8)


def _chunks(x: np.ndarray, cuts: list[int]) -> list[np.ndarray]:
    return np.split(x, sorted(c % (x.size + 1) for c in cuts))


@FUZZ
@given(x=_streams, cuts=_cuts)
def test_any_stream_comes_out_finite_in_range_and_chunking_free(
    x: np.ndarray, cuts: list[int], tally: Tally
) -> None:
    """Any float64 stream (NaN, inf, 1e308, subnormals) in any chunks: the output is
    finite, within +-2^23-1 uV, equal to the one-call output, and the counts add up to
    the samples that differ from the input."""
    tally.case()
    whole, changed = sanitise(x)
    guard = InputGuard()
    parts = [guard.process(c) for c in _chunks(x, cuts)]
    streamed = np.concatenate(parts) if parts else np.empty(0)
    assert np.array_equal(whole, streamed)
    assert np.all(np.isfinite(whole)) and np.all(np.abs(whole) <= PHYSICAL_LIMIT_UV)
    same = np.isfinite(x) & (np.abs(x) <= PHYSICAL_LIMIT_UV)
    assert np.array_equal(changed, ~same)
    assert np.array_equal(whole[same], x[same])
    assert guard.held == int(np.count_nonzero(~np.isfinite(x)))
    assert guard.changed == int(np.count_nonzero(~same))


@FUZZ
@given(x=hnp.arrays(np.float64, st.integers(1, 300), elements=st.floats(-2e4, 2e4)))
def test_real_ecg_values_pass_as_the_same_array(x: np.ndarray, tally: Tally) -> None:
    """Finite samples within the range are not copied or touched: the detector's output
    on real data cannot change."""
    tally.case()
    out, changed = sanitise(x)
    assert out is x and not changed.any()


def test_a_lost_sample_is_held_and_an_impossible_one_clamped(tally: Tally) -> None:
    """The documented rules on a hand-made stream, across a chunk boundary."""
    tally.case()
    guard = InputGuard()
    first = guard.process(np.array([np.nan, 5.0, np.inf, 1e300]))
    second = guard.process(np.array([np.nan, -np.inf, -7.0, -1e20]))
    assert first.tolist() == [0.0, 5.0, 5.0, PHYSICAL_LIMIT_UV]
    assert second.tolist() == [PHYSICAL_LIMIT_UV, PHYSICAL_LIMIT_UV, -7.0, -PHYSICAL_LIMIT_UV]
    assert (guard.held, guard.clamped) == (4, 2)


def test_a_filter_never_returns_nan_after_bad_input(tally: Tally) -> None:
    """NaN and 1e300 as the very first samples once settled the filter's state on them:
    everything after was NaN. Now the ECG after them is filtered as if they were held."""
    tally.case()
    rng = np.random.default_rng(1)
    x = rng.normal(0, 300, 2000)
    x[:3] = [np.nan, 1e300, np.inf]
    with np.errstate(all="ignore"):
        y = StreamingSosFilter(bandpass_sos(130.0, 0.5, 40.0)).process(x)
    assert np.all(np.isfinite(y))
    ref = x.copy()
    ref[:3] = [0.0, PHYSICAL_LIMIT_UV, PHYSICAL_LIMIT_UV]
    assert np.array_equal(y, filter_ecg(ref, 130.0))
