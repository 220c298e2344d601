"""Python's `round(x, digits)` for a whole array at once, to the bit.

The quality and VF stages report their measures rounded (to 3 or 4 decimals) on every
second of every stream; calling the builtin `round` three times per second cost more
than the measures themselves. `numpy.round` is not a substitute: it scales, rounds and
unscales in binary, so a value whose scaled form the multiplication moves onto or
across a half rounds differently from Python, which rounds the exact value half to
even (`round(2.675, 2)` is 2.67, as 2.675 is stored as 2.67499999...). Here numpy does the
work wherever the scaled value is clearly away from a half, and the few others
(also NaN, infinities and huge values) go through the builtin.
"""

from __future__ import annotations

import numpy as np

_MARGIN = 1e-6
"""How far from a half the scaled value must be for numpy's result to be certain:
the multiplication errs by half an ulp at most, under 1e-7 below _SCALED_MAX."""
_SCALED_MAX = 1e9


_FEW = 16
"""Up to this many values the builtin itself is cheaper than the ten numpy calls below
(live, a second's verdict rounds three or four values)."""


def round_like_python(values: np.ndarray, digits: int) -> np.ndarray:
    """An array of `round(float(v), digits)` for every v (float64; same shape)."""
    x = np.asarray(values, dtype=np.float64)
    if x.size <= _FEW:
        return np.array([round(v, digits) for v in x.ravel().tolist()], dtype=np.float64).reshape(
            x.shape
        )
    scale = 10.0**digits
    with np.errstate(over="ignore", invalid="ignore"):  # those go through the builtin
        scaled = x * scale
        out = np.rint(scaled) / scale
        away = np.abs(scaled - np.floor(scaled) - 0.5) > _MARGIN
        certain = away & (np.abs(scaled) < _SCALED_MAX)
    if not certain.all():
        doubt = np.flatnonzero(~certain.ravel())
        flat = out.reshape(-1)
        flat[doubt] = [round(v, digits) for v in x.ravel()[doubt].tolist()]
    return out
