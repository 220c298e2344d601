"""Record shapes that keep the log small: long ECG blocks split, absent RR costs nothing.

The end-to-end replay hands the daemon's sink 60 s frames, so it wrote ~8 kB ECG
records, and two rarely share a 16 kB SQLite page: a third of the file was empty page
space. Live beats carry no rr_after (the classifier does not wait for the next R-peak);
stored as 0.0 it missed its prediction and cost most of 8 bytes per beat.
"""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path

import numpy as np

from monitor.classify.beat import ClassifiedBeat
from monitor.store import Identity, LogReader
from monitor.store.records import (
    MAX_ECG_RECORD_SAMPLES,
    BeatBatch,
    EcgBlock,
    decode_beats,
    encode_beats,
    split_ecg,
)
from tests.store.conftest import T0, ecg_block, write_log


def test_split_pieces_are_contiguous_and_concatenate_to_the_block() -> None:
    block = ecg_block(3, n=7800)
    pieces = split_ecg(block)
    assert len(pieces) == 4 and all(len(p.samples_uv) <= MAX_ECG_RECORD_SAMPLES for p in pieces)
    assert np.array_equal(np.concatenate([p.samples_uv for p in pieces]), block.samples_uv)
    assert pieces[0].t0_ns == block.t0_ns and pieces[-1].end_ns == block.end_ns
    for a, b in itertools.pairwise(pieces):
        assert abs(b.t0_ns - a.end_ns) <= 1  # nanosecond rounding only
    assert split_ecg(ecg_block(0)) == [ecg_block(0)]


def test_writer_stores_a_long_block_as_page_sized_records(
    log_path: Path, patient: Identity
) -> None:
    block = ecg_block(0, n=60 * 130)
    write_log(log_path, [patient], [block])
    with LogReader(log_path) as reader:
        got = [r.payload for r in reader.records(patient) if isinstance(r.payload, EcgBlock)]
    assert len(got) == 4
    assert np.array_equal(np.concatenate([g.samples_uv for g in got]), block.samples_uv)
    assert got[0].t0_ns == T0
    with LogReader(log_path) as reader:
        report = reader.verify(patient)
    assert report.ok and not report.gaps and report.counts["ecg"] == 4
    with sqlite3.connect(log_path) as conn:
        longest = conn.execute("SELECT max(length(body)) FROM records").fetchone()[0]
    assert longest < 16384 // 4


def _live_beats(n: int, rr_after: bool, fs: float = 130.0) -> BeatBatch:
    rng = np.random.default_rng(5)
    index = np.cumsum(rng.integers(80, 130, n)) + 1000
    beats = tuple(
        ClassifiedBeat(
            index=int(i),
            time_s=int(i) / fs,
            label="N",
            confidence=0.9,
            rr_before_s=float(i - p) / fs,
            rr_after_s=float(q - i) / fs if rr_after else None,
        )
        for p, i, q in zip(index[:-2], index[1:-1], index[2:], strict=True)
    )
    return BeatBatch(T0, fs, beats)


def test_absent_rr_round_trips_and_costs_no_more_than_a_predicted_one() -> None:
    import zlib

    without, with_rr = _live_beats(40, False), _live_beats(40, True)
    assert decode_beats(encode_beats(without)) == without
    assert decode_beats(encode_beats(with_rr)) == with_rr
    assert len(zlib.compress(encode_beats(without))) <= len(zlib.compress(encode_beats(with_rr)))
