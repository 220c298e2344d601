"""The beat value shared by the classifier, the rhythm analysis, the log and the UI."""

from __future__ import annotations

from dataclasses import dataclass

BEAT_CLASSES: tuple[str, ...] = ("N", "S", "V", "F", "Q")
"""ANSI/AAMI EC57 classes: normal, supraventricular ectopic, ventricular ectopic,
fusion, unknown/paced."""


@dataclass(frozen=True, init=False)
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

    def __init__(
        self,
        index: int,
        time_s: float,
        label: str,
        confidence: float,
        rr_before_s: float | None = None,
        rr_after_s: float | None = None,
        noisy: bool = False,
    ) -> None:
        # The generated __init__ of a frozen dataclass sets each field through
        # object.__setattr__; a day holds ~110,000 beats, and writing the instance dict
        # directly builds the same object (same fields, still frozen) in half the time.
        d = self.__dict__
        d["index"] = index
        d["time_s"] = time_s
        d["label"] = label
        d["confidence"] = confidence
        d["rr_before_s"] = rr_before_s
        d["rr_after_s"] = rr_after_s
        d["noisy"] = noisy
