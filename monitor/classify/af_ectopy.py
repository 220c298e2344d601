"""RR irregularity that one displaced beat explains is ectopy, not atrial fibrillation.

The AF rule measures the irregularity of N-N intervals: the median of the absolute
differences of successive intervals (`monitor.classify.rhythm`). Ectopy the beat
classifier does not label (a PAC or PVC called N), and R peaks placed late on a wide
complex, still reach that series, and each makes a *pair* of unequal intervals: a
beat early by d is a short interval (RR - d) and then a long one (RR + d), whose sum
is two normal cycles; a premature beat followed by a compensatory pause is the same
(a full pause after a PVC: the sinus node keeps its time, so the two intervals add
up to exactly two cycles). So the pair is irregular only because one beat is out of
place, and the rhythm around it is regular. In AF the intervals are independent: the
sum of two successive ones differs from two typical cycles about as much as their
difference does, so few irregular pairs look like this by chance.

A successive-interval pair (RR_a, RR_b) is **explained by a displaced beat** when it
is irregular (|RR_b - RR_a| above `floor` times the typical interval) and

    |RR_a + RR_b - 2 * typical| < ratio * |RR_b - RR_a|.

Such a pair is left out of the irregularity. For independent intervals with equal
spread, the sum and the difference are uncorrelated with the same spread, so the
share of AF's pairs that look like this by chance is (2 / pi) * atan(ratio): 0.16 at
ratio 0.25, 0.30 at 0.5 (among the irregular ones a little more: 0.20 at 0.25 for
intervals with a 15% spread). A displaced beat makes up to three irregular pairs:
the one across it (difference 2d, explained) and the two beside it (difference d,
whose sums are 2 cycles - d and 2 cycles + d: not explained), so the rule removes the
largest difference each displaced beat adds, and beside it keeps only displacements
small enough to stay under the thresholds. It therefore moves irregularity that sits
near the AF thresholds, where a few such pairs decide the median, as in sinus rhythm
with frequent ectopy and sinus arrhythmia; it also lowers AF's irregularity a little
(the pairs left out by chance), which loses AF near its threshold.
"""

from __future__ import annotations

from collections.abc import Iterable


def is_displaced_pair(
    total: float, diff: float, typical: float, floor: float, ratio: float
) -> bool:
    """Whether a pair of successive intervals (sum `total`, |difference| `diff`) is
    irregular and explained by one displaced beat (see the module docstring)."""
    return diff > floor * typical and abs(total - 2.0 * typical) < ratio * diff


def unexplained_irregularity(
    pairs: Iterable[tuple[float, float]],
    typical: float,
    floor: float,
    ratio: float,
    min_pairs: int,
) -> float | None:
    """Median |RR_b - RR_a| / typical over the pairs no displaced beat explains.

    pairs: (RR_a + RR_b, |RR_b - RR_a|) of successive N-N intervals, in seconds.
    typical: the typical (median) N-N interval, > 0.
    floor: pairs whose difference is at most this times `typical` are kept whatever
        their sum (they are regular: leaving them out would raise the median).
    ratio: a pair is explained when |sum - 2 typical| < ratio * difference.
    Returns None when fewer than `min_pairs` pairs are left (too few to tell)."""
    kept = sorted(
        diff for total, diff in pairs if not is_displaced_pair(total, diff, typical, floor, ratio)
    )
    n = len(kept)
    if n < max(1, min_pairs):
        return None
    mid = n // 2
    median = kept[mid] if n % 2 else 0.5 * (kept[mid - 1] + kept[mid])
    return median / typical
