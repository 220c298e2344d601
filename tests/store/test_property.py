"""Property: any sequence of records written is read back identical."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.classify.beat import ClassifiedBeat
from monitor.store import BeatBatch, EcgBlock, Event, Identity, LogReader, LogWriter, Payload
from monitor.store.reader import overlaps
from monitor.store.records import payload_time_range

IDENTITY = Identity.generate()
ints64 = st.integers(min_value=-(2**62), max_value=2**62)
floats = st.floats(allow_nan=False, allow_infinity=False, width=64)
seconds = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False)  # +-30 years

ecg_blocks = st.builds(
    lambda t0, fs, dtype, values: EcgBlock(t0, fs, np.array(values, dtype=dtype)),
    ints64, st.sampled_from([100.0, 130.0, 250.0, 360.0, 1000.0]),
    st.sampled_from([np.int16, np.int32]),
    st.lists(st.integers(-32768, 32767), max_size=400),
)
beats = st.builds(
    ClassifiedBeat, index=st.integers(0, 2**40), time_s=seconds,
    label=st.sampled_from(["N", "S", "V", "F", "Q", "custom-label"]),
    confidence=floats, rr_before_s=st.none() | floats, rr_after_s=st.none() | floats,
    noisy=st.booleans(),
)
beat_batches = st.builds(lambda t0, fs, b: BeatBatch(t0, fs, tuple(b)), ints64,
                         st.sampled_from([130.0, 360.0]), st.lists(beats, max_size=30))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | floats | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=10,
)
events = st.builds(
    Event, category=st.sampled_from(["episode", "alert", "device", "summary"]),
    kind=st.text(max_size=30), t_ns=ints64, end_ns=st.none() | ints64,
    data=st.dictionaries(st.text(max_size=10), json_values, max_size=5),
)
payloads = st.lists(st.one_of(ecg_blocks, beat_batches, events), max_size=25)


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(payloads, st.lists(st.integers(0, 25), max_size=3))
def test_records_written_are_read_back_identical(items: list[Payload],
                                                 rotations: list[int]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "log.sqlite"
        with LogWriter(path, [IDENTITY.recipient]) as writer:
            for k, item in enumerate(items):
                if k in rotations:
                    writer.rotate()
                writer.append(item)
        with LogReader(path) as reader:
            got = [r.payload for r in reader.records(IDENTITY) if r.payload is not None]
            assert reader.verify(IDENTITY).ok
    assert got == items


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(1, 40), min_size=1, max_size=40),
       st.lists(st.integers(0, 40), max_size=6),
       st.integers(-5, 45), st.integers(0, 30))
def test_a_range_read_equals_the_full_read_filtered(gaps: list[int], rotations: list[int],
                                                   start_block: int, length: int) -> None:
    """Blocks at increasing times, segments of any length: the range read (which skips
    far segments) returns exactly what filtering the full read returns."""
    t, items = 0, []
    for gap in gaps:
        t += gap
        items.append(EcgBlock(t * 10**9, 100.0, np.arange(100, dtype=np.int16)))
    start, end = start_block * 10**9 * 10, (start_block + length) * 10**9 * 10
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "log.sqlite"
        with LogWriter(path, [IDENTITY.recipient]) as writer:
            for k, item in enumerate(items):
                if k in rotations:
                    writer.rotate()
                writer.append(item)
        with LogReader(path) as reader:
            ranged = [r.payload for r in reader.records(IDENTITY, start_ns=start, end_ns=end)]
            full = [r.payload for r in reader.records(IDENTITY)]
    assert ranged == [p for p in full
                      if overlaps(payload_time_range(p), start, end)]  # type: ignore[arg-type]
