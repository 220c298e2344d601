"""The beat value shared by the classifier, the rhythm analysis, the log and the UI."""

from __future__ import annotations

from dataclasses import dataclass

BEAT_CLASSES: tuple[str, ...] = ("N", "S", "V", "F", "Q")
"""ANSI/AAMI EC57 classes: normal, supraventricular ectopic, ventricular ectopic,
fusion, unknown/paced."""


@dataclass(frozen=True)
class ClassifiedBeat:
    """One heartbeat after classification.

    index: R-peak sample index at the working rate (130 Hz), counted from the start of
        the stream.
    time_s: the same instant in seconds from the start of the stream.
    label: one of BEAT_CLASSES.
    confidence: the model's probability for `label`, 0..1.
    rr_before_s / rr_after_s: intervals to the neighbouring beats (None when unknown,
        e.g. the first beat or after a gap).
    noisy: the beat lies in a stretch the signal-quality stage marked unreadable.
    """

    index: int
    time_s: float
    label: str
    confidence: float
    rr_before_s: float | None = None
    rr_after_s: float | None = None
    noisy: bool = False
