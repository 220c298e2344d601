"""The P-wave candidate features: the beat's PR stretch, its straight line removed,
correlated with the template's (scripts/ablate_beats.py measures them on DS1)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import detrend

from monitor.classify import features as feat

STRETCHES = {"pr_detrended_corr": feat.PR_STRETCH, "pr_short_corr": feat.PR_SHORT_STRETCH}


def test_the_stretches_lie_before_the_qrs() -> None:
    """0.30 (or 0.15) to 0.08 s before the R-peak, inside the window, QRS left out."""
    assert feat.PR_STRETCH.start == feat.WINDOW_BEFORE - round(0.30 * feat.INPUT_FS)
    assert feat.PR_SHORT_STRETCH.start == feat.WINDOW_BEFORE - round(0.15 * feat.INPUT_FS)
    for s in STRETCHES.values():
        assert s.start >= 0
        assert s.stop == feat.WINDOW_BEFORE - round(0.08 * feat.INPUT_FS)


def test_detrending_is_scipys_linear_detrend() -> None:
    rows = np.random.default_rng(1).normal(size=(7, 29))
    np.testing.assert_allclose(feat._detrend_rows(rows), detrend(rows, axis=1), atol=1e-12)


@pytest.mark.parametrize("name", sorted(STRETCHES))
def test_the_feature_is_the_correlation_of_the_detrended_stretches(name: str) -> None:
    rng = np.random.default_rng(2)
    w, t = rng.normal(size=(5, feat.WINDOW)), rng.normal(size=(5, feat.WINDOW))
    got = feat.template_features(w, t, (name,))[name]
    s = STRETCHES[name]
    want = [np.corrcoef(detrend(a[s]), detrend(b[s]))[0, 1] for a, b in zip(w, t, strict=True)]
    np.testing.assert_allclose(got, want, atol=1e-12)


@pytest.mark.parametrize("name", sorted(STRETCHES))
def test_a_slope_or_a_step_in_level_does_not_change_it(name: str) -> None:
    """Baseline wander (or the end of the previous T wave) adds a slope to the stretch;
    the patient's own P wave under it still correlates fully with the template."""
    template = np.zeros((1, feat.WINDOW))
    s = STRETCHES[name]
    k = s.stop - s.start
    template[0, s] = np.exp(-0.5 * ((np.arange(k) - k / 2) / (k / 6)) ** 2)
    beat = template.copy()
    beat[0, s] = 3.0 * beat[0, s] + 0.5 + np.linspace(-2.0, 2.0, k)
    assert feat.template_features(beat, template, (name,))[name][0] == pytest.approx(1.0)
    other = template.copy()
    other[0, s] = -template[0, s]  # an inverted P wave
    assert feat.template_features(other, template, (name,))[name][0] == pytest.approx(-1.0)
