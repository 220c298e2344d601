"""ClassifiedBeat's hand-written constructor builds exactly what the dataclass would."""

from __future__ import annotations

import dataclasses
import inspect
import pickle
from typing import Any

import pytest

from monitor.classify.beat import ClassifiedBeat
from monitor.pipeline import _shifted


def test_the_constructor_takes_every_field_in_order_with_its_default() -> None:
    params = list(inspect.signature(ClassifiedBeat).parameters.values())
    fields = dataclasses.fields(ClassifiedBeat)
    assert [p.name for p in params] == [f.name for f in fields]
    for p, f in zip(params, fields, strict=True):
        want = inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default
        assert p.default == want, f.name


def test_a_beat_is_a_frozen_value() -> None:
    beat = ClassifiedBeat(12, 12 / 130, "V", 0.875, rr_before_s=0.5, noisy=True)
    assert dataclasses.asdict(beat) == {
        "index": 12,
        "time_s": 12 / 130,
        "label": "V",
        "confidence": 0.875,
        "rr_before_s": 0.5,
        "rr_after_s": None,
        "noisy": True,
    }
    assert beat == ClassifiedBeat(12, 12 / 130, "V", 0.875, 0.5, None, True)
    assert hash(beat) == hash(ClassifiedBeat(12, 12 / 130, "V", 0.875, 0.5, None, True))
    assert pickle.loads(pickle.dumps(beat)) == beat
    assert dataclasses.replace(beat, label="Q").label == "Q"
    with pytest.raises(dataclasses.FrozenInstanceError):
        beat.label = "N"  # type: ignore[misc]


def test_a_shifted_beat_keeps_every_other_field() -> None:
    """The pipeline moves beats after a gap into stream time without dataclasses.replace;
    every field but the index and time must come through (a new field too)."""
    values: dict[str, Any] = {"index": 7, "time_s": 7 / 130, "label": "S", "confidence": 0.625}
    for f in dataclasses.fields(ClassifiedBeat)[4:]:
        values[f.name] = {"rr_before_s": 0.75, "rr_after_s": 0.5, "noisy": True}.get(f.name)
        assert values[f.name] is not None, f"give the new field {f.name} a test value"
    beat = ClassifiedBeat(**values)
    moved = _shifted(beat, 1300, 130.0)
    assert moved == dataclasses.replace(beat, index=1307, time_s=1307 / 130.0)
