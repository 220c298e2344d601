"""The small-input exponential average (`features._ema_steps`) against scipy's lfilter,
which it replaces for live-sized chunks: the same values to the bit, NaN, infinities
and signed zeros included, for every length up to past the switch-over."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy.signal import lfilter

from monitor.classify import features as feat


def _reference(x: np.ndarray, alpha: float, state: Any) -> np.ndarray:
    """The lfilter form `_ema_all` always used before (the oracle)."""
    if state is None:
        state = x[0].astype(np.float64)
    zi = ((1.0 - alpha) * state)[None, ...]
    after, _ = lfilter([alpha], [1.0, alpha - 1.0], x, axis=0, zi=zi)
    return np.concatenate([state[None, ...], after], axis=0)


ALPHAS = (feat.SHORT_ALPHA, feat.LONG_ALPHA, feat.AMP_ALPHA, feat.TEMPLATE_ALPHA, 0.3, 1.0)


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("alpha", ALPHAS)
def test_scalars_match_lfilter_bit_for_bit(alpha: float) -> None:
    rng = np.random.default_rng(7)
    for n in range(1, feat.SMALL_EMA_VALUES + 3):
        for state in (None, np.float64(rng.uniform(0.2, 2.0)), rng.normal()):
            x = rng.uniform(0.2, 3.0, n) * rng.choice([1e-3, 1.0, 1e3])
            state_arr = None if state is None else np.float64(state)
            got = feat._ema_all(x, alpha, state_arr)
            assert _same_bits(got, _reference(x, alpha, state_arr))
            assert _same_bits(
                feat._ema_steps(x, alpha, x[0] if state is None else state_arr),
                _reference(x, alpha, state_arr),
            )


@pytest.mark.parametrize("alpha", ALPHAS)
def test_rows_match_lfilter_bit_for_bit(alpha: float) -> None:
    rng = np.random.default_rng(11)
    for n in range(1, feat.SMALL_EMA_ROWS + 3):
        x = rng.normal(size=(n, feat.WINDOW)) * 3.0
        for state in (None, rng.normal(size=feat.WINDOW)):
            got = feat._ema_all(x, alpha, state)
            assert _same_bits(got, _reference(x, alpha, state))
            start = x[0].astype(np.float64) if state is None else state
            assert _same_bits(feat._ema_steps(x, alpha, start), _reference(x, alpha, state))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_special_values_match_lfilter() -> None:
    """NaN, infinities and zeros of either sign take the same path through both."""
    specials = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 1e-310, -1e308, 5.0])
    for alpha in ALPHAS:
        for state in (np.float64(0.0), np.float64(-0.0), np.float64(1.5), np.float64(np.nan)):
            for i in range(specials.size):
                x = np.roll(specials, i)[:3]
                assert _same_bits(feat._ema_steps(x, alpha, state), _reference(x, alpha, state))
                rows = np.tile(specials, (2, 12))[:, : feat.WINDOW]
                rows = np.roll(rows, i, axis=1)
                st = np.full(feat.WINDOW, state)
                assert _same_bits(feat._ema_steps(rows, alpha, st), _reference(rows, alpha, st))
