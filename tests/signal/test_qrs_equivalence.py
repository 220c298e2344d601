"""The faster QRS detector gives exactly the R-peaks of the detector it replaced.

`tests/signal/qrs_reference.py` keeps the detector of main e33be0c (with its own copy of
the filter and input guard of that time) as an oracle. Every comparison here is exact
(`np.array_equal` on the R-peak indices), over real MIT-BIH records streamed as a
replay (60 s) and as a strap (73-sample notifications), over random chunkings, over
hard inputs (NaN, clipping, flat lines, impossible values) and at every rate.

One difference is deliberate and tested on its own: the old detector carried too short
a slope history when a stream *began* with chunks of 8-14 samples in total (its tail
slice took the last `win-1-size` samples instead of all of them), so its R-peaks could
depend on the chunking; the new one keeps the full history from the first sample. The
oracle comparisons therefore start every stream with a chunk of at least 15 samples
(every real source does: a strap notification holds 73), after which the two agree.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.evaluation import load_reference
from monitor.signal.qrs import QrsDetector, detect_qrs
from monitor.signal.resample import resample_record
from tests.signal.qrs_reference import ReferenceQrsDetector, reference_detect_qrs

FS = 130.0
FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "synthetic_130hz.csv"
RECORDS = ("100", "105", "108", "119", "203", "207", "208", "232")
"""Normal rhythm, heavy noise, big T waves, bigeminy, multiform VT/AF, flutter and
blocks, PVC runs, long pauses: where a decision rule is most often on a knife edge."""
FIRST_CHUNK = 15
"""The old detector's slope history is only right once 15 samples have come in one go."""


def stream(make: type[QrsDetector] | type[ReferenceQrsDetector], x: np.ndarray, cuts: list[int],
           fs: float = FS) -> np.ndarray:  # fmt: skip
    detector = make(fs)
    found = [detector.process(piece) for piece in np.split(x, cuts)]
    found.append(detector.flush())
    return np.concatenate(found).astype(np.int64)


def regular_cuts(n: int, step: int) -> list[int]:
    return list(range(step, n, step))


def at_130(name: str, mitdb: Path) -> np.ndarray:
    ref = load_reference(mitdb / name)
    return resample_record(ref.samples_uv, ref.fs, FS)


@pytest.mark.data
@pytest.mark.parametrize("name", RECORDS)
def test_same_r_peaks_as_the_oracle_on_whole_records(mitdb: Path, name: str) -> None:
    """Whole records at 130 Hz, as a replay (60 s chunks) and as a strap (73 samples)."""
    x = at_130(name, mitdb)
    for step in (round(60 * FS), 73):
        cuts = regular_cuts(x.size, step)
        new, old = stream(QrsDetector, x, cuts), stream(ReferenceQrsDetector, x, cuts)
        assert new.size > 1000
        assert np.array_equal(new, old), f"{name}, {step}-sample chunks"


cut_lists = st.lists(st.one_of(st.integers(0, 12), st.integers(0, 3000)), max_size=60)


@pytest.mark.data
@settings(max_examples=20, deadline=None)
@given(
    name=st.sampled_from(RECORDS),
    start_s=st.floats(0.0, 1500.0),
    first=st.integers(FIRST_CHUNK, 400),
    lengths=cut_lists,
)
def test_same_r_peaks_as_the_oracle_for_any_chunking(
    mitdb: Path, name: str, start_s: float, first: int, lengths: list[int]
) -> None:
    """Four minutes from anywhere in a record, cut anywhere after the first chunk."""
    x = at_130(name, mitdb)[round(start_s * FS) :][: round(240 * FS)]
    cuts = np.cumsum([first, *lengths]).tolist()
    cuts = [c for c in cuts if c < x.size]
    assert np.array_equal(stream(QrsDetector, x, cuts), stream(ReferenceQrsDetector, x, cuts))


def hard_inputs() -> dict[str, np.ndarray]:
    """The synthetic fixture (ectopy, pauses, AF-like rhythm, noise) and abuses of it."""
    syn = np.loadtxt(FIXTURE, skiprows=1)
    rng = np.random.default_rng(11)
    holes = syn.copy()
    for s in rng.integers(0, syn.size - 200, 25):
        holes[s : s + int(rng.integers(1, 150))] = np.nan
    wild = syn.copy()
    wild[rng.integers(0, syn.size, 40)] = rng.choice([1e300, -1e300, 5.4e15, np.inf, -np.inf], 40)
    steps = syn + np.repeat(rng.normal(0, 3000, syn.size // 650 + 1), 650)[: syn.size]
    return {
        "fixture": syn,
        "inverted, quarter size": -0.25 * syn,
        "nan holes": holes,
        "impossible values": wild,
        "clipped": np.clip(syn, -500.0, 500.0),
        "baseline steps": steps,
        "noise only": rng.normal(0, 200, syn.size),
        "flat then ecg": np.concatenate([np.full(2000, 321.0), syn[:6000]]),
        "all nan": np.full(3000, np.nan),
    }


@pytest.mark.parametrize("case", list(hard_inputs()))
@pytest.mark.parametrize("step", [15, 73, 1000, 10**9])
def test_same_r_peaks_as_the_oracle_on_hard_inputs(case: str, step: int) -> None:
    x = hard_inputs()[case]
    cuts = regular_cuts(x.size, step)
    assert np.array_equal(stream(QrsDetector, x, cuts), stream(ReferenceQrsDetector, x, cuts))


@pytest.mark.parametrize("fs", [100.0, 128.0, 250.0, 360.0, 500.0, 1000.0])
def test_same_r_peaks_as_the_oracle_at_every_rate(fs: float) -> None:
    x = resample_record(np.loadtxt(FIXTURE, skiprows=1), FS, fs)
    assert np.array_equal(detect_qrs(x, fs), reference_detect_qrs(x, fs))
    cuts = regular_cuts(x.size, round(0.56 * fs))  # a strap's notification at that rate
    assert np.array_equal(
        stream(QrsDetector, x, cuts, fs), stream(ReferenceQrsDetector, x, cuts, fs)
    )


def test_empty_and_flushed_streams_agree_with_the_oracle() -> None:
    for make in (QrsDetector, ReferenceQrsDetector):
        detector = make(FS)
        assert detector.process(np.empty(0)).size == 0
        assert detector.flush().size == 0
    short = np.loadtxt(FIXTURE, skiprows=1)[:200]  # flushed before the 2 s warm-up
    assert np.array_equal(detect_qrs(short, FS), reference_detect_qrs(short, FS))


@pytest.mark.data
def test_one_sample_chunks_from_the_start_give_the_beats_of_one_chunk(mitdb: Path) -> None:
    """The deliberate difference: fed one sample at a time from the first sample, the old
    detector's slope history stayed 7 samples long instead of 15, and its R-peaks on
    record 203 changed (2,965 instead of 2,968 over the record; 892 instead of 891 in
    the first nine minutes, tested here). The new one gives the R-peaks of one chunk."""
    x = at_130("203", mitdb)[: round(540 * FS)]
    ones = stream(QrsDetector, x, list(range(1, x.size)))
    assert np.array_equal(ones, detect_qrs(x, FS))
    assert np.array_equal(ones, reference_detect_qrs(x, FS))  # the oracle in one chunk
