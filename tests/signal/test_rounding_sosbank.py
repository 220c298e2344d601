"""The two helpers the quality and VF stages are built on give what they replace, to the
bit: `round_like_python` is the builtin `round` over an array; each output of a
`SosBank` is that of its own `StreamingSosFilter`."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.signal.filters import StreamingSosFilter, bandpass_sos
from monitor.signal.rounding import round_like_python
from monitor.signal.sosbank import SosBank


def same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=50),
    digits=st.integers(0, 6),
)
def test_rounding_is_the_builtin_round(values: list[float], digits: int) -> None:
    got = round_like_python(np.array(values, dtype=np.float64), digits).tolist()
    assert all(same(g, round(v, digits)) for g, v in zip(got, values, strict=True))


def test_rounding_at_and_near_halves() -> None:
    """Values whose scaled form is a half or within an ulp of one (2.675 is stored as
    2.67499...: the builtin gives 2.67, numpy.round 2.68)."""
    rng = np.random.default_rng(0)
    k = rng.integers(-(10**6), 10**6, 20000)
    for digits in (3, 4):
        halves = (k + 0.5) / 10.0**digits
        x = np.concatenate([halves, np.nextafter(halves, 0), np.nextafter(halves, 1), [2.675]])
        got = round_like_python(x, digits).tolist()
        assert got == [round(v, digits) for v in x.tolist()]
    assert round_like_python(np.array([2.675]), 2).tolist() == [2.67]


@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 3000),
    cuts=st.lists(st.integers(0, 3000), max_size=8),
    bad=st.sampled_from([None, np.nan, np.inf, 1e300, -5.4e15]),
)
def test_bank_outputs_are_streaming_sos_filter_outputs(
    seed: int, n: int, cuts: list[int], bad: float | None
) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 500, n) + rng.uniform(-3000, 3000)
    if bad is not None and n:
        x[rng.integers(0, n, 1 + n // 100)] = bad
    sections = [bandpass_sos(130.0, 0.5, 40.0), bandpass_sos(130.0, 5.0, 18.0)]
    bank = SosBank(sections)
    singles = [StreamingSosFilter(s) for s in sections]
    got: list[list[np.ndarray]] = [[], []]
    want: list[list[np.ndarray]] = [[], []]
    for piece in np.split(x, sorted(set(c for c in cuts if c <= n))):
        for i, y in enumerate(bank.process(piece)):
            got[i].append(y)
            want[i].append(singles[i].process(piece))
    for g, w in zip(got, want, strict=True):
        assert np.array_equal(
            np.concatenate(g or [np.empty(0)]), np.concatenate(w or [np.empty(0)])
        )
