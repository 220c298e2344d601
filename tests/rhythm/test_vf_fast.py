"""The restructured VF detector gives the same verdicts as the one it replaced
(tests/rhythm/vf_reference.py, main at e33be0c): equal `VfSecond`s (index, verdict,
the rounded measures and the dominant frequency) for every second, whatever the
chunking on either side, on real records and on generated ones with VF, noise, lost
samples and absurd values."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.classify.vf import VfDetector, VfSecond

from . import vf_reference as reference

WORKING_FS = 130.0


def streamed(det: VfDetector | reference.VfDetector, x: np.ndarray, cuts: list[int]) -> list:
    out: list[VfSecond] = []
    for piece in np.split(x, sorted(set(cuts))):
        out += det.process(piece)
    return out + det.flush()


def generated(seconds: float, fs: float, rng: np.random.Generator, kinds: list[str]) -> np.ndarray:
    """Beats at a random rate, then stretches of VF-like oscillation, noise and damage."""
    t = np.arange(int(seconds * fs)) / fs
    x = np.zeros_like(t)
    for beat in np.arange(rng.uniform(0, 0.5), seconds, 1.0 / rng.uniform(0.6, 3.5)):
        x += rng.uniform(300, 2500) * np.exp(-0.5 * ((t - beat) / rng.uniform(0.01, 0.06)) ** 2)
    x += rng.normal(0.0, rng.uniform(1, 40), t.size)
    for kind in kinds if x.size else []:
        a = int(rng.integers(0, x.size))
        b = min(x.size, a + int(rng.integers(1, int(10 * fs))))
        tt = t[a:b]
        if kind == "vf":
            f0 = rng.uniform(1.5, 9.0)
            x[a:b] = rng.uniform(100, 1500) * np.sin(
                2 * np.pi * (f0 * tt + 0.3 * np.sin(2 * np.pi * rng.uniform(0.1, 0.5) * tt))
            )
        elif kind == "paced":
            f0 = rng.uniform(1.0, 2.0)
            x[a:b] = (
                800
                * np.sign(np.sin(2 * np.pi * f0 * tt))
                * np.abs(np.sin(2 * np.pi * f0 * tt)) ** 3
            )
        elif kind == "noise":
            x[a:b] += rng.normal(0, rng.uniform(50, 2000), b - a)
        elif kind == "nan":
            x[a:b] = np.nan
        elif kind == "inf":
            x[a:b:5] = rng.choice([np.inf, -np.inf])
        elif kind == "huge":
            x[a:b:11] = rng.choice([1e300, -5.4e15, 2.0**24])
        elif kind == "flat":
            x[a:b] = rng.uniform(-100, 100)
    return x


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    fs=st.sampled_from([WORKING_FS, 101.0, 250.0]),
    seconds=st.floats(0.0, 20.0),
    kinds=st.lists(
        st.sampled_from(["vf", "vf", "paced", "noise", "nan", "inf", "huge", "flat"]), max_size=4
    ),
    cuts=st.lists(st.integers(0, 20 * 250), max_size=10),
    ref_cuts=st.lists(st.integers(0, 20 * 250), max_size=3),
)
def test_same_verdicts_as_reference_on_generated_ecg(
    seed: int, fs: float, seconds: float, kinds: list[str], cuts: list[int], ref_cuts: list[int]
) -> None:
    x = generated(seconds, fs, np.random.default_rng(seed), kinds)
    expected = streamed(reference.VfDetector(fs), x, ref_cuts)
    assert streamed(VfDetector(fs), x, cuts) == expected


def test_generated_cases_include_vf_like_seconds() -> None:
    """The comparison above covers both verdicts, not only 'not VF'."""
    rng = np.random.default_rng(5)
    x = generated(30.0, WORKING_FS, rng, ["vf"] * 3)
    got = VfDetector(WORKING_FS).process(x)
    assert got == reference.VfDetector(WORKING_FS).process(x)
    assert {s.vf_like for s in got} == {True, False}


def test_first_index_only_shifts_the_indices() -> None:
    x = generated(12.0, WORKING_FS, np.random.default_rng(2), ["vf"])
    plain = VfDetector(WORKING_FS).process(x)
    shifted = VfDetector(WORKING_FS, first_index=1000).process(x)
    assert [s.index for s in shifted] == [s.index + 1000 for s in plain]
    assert [(s.vf_like, s.tcsc, s.dominant_hz) for s in shifted] == [
        (s.vf_like, s.tcsc, s.dominant_hz) for s in plain
    ]


def load(path: Path) -> np.ndarray:
    from monitor.recording import import_wfdb
    from monitor.signal.resample import resample_record

    rec = import_wfdb("reading a test record").rdrecord(str(path))
    x = np.asarray(rec.p_signal[:, 0], dtype=np.float64) * 1000.0
    return resample_record(x, float(rec.fs), WORKING_FS)


@pytest.mark.data
@pytest.mark.parametrize(
    ("database", "record"),
    [("cudb", "cu01"), ("cudb", "cu06"), ("mitdb", "207"), ("nstdb", "119e06")],
)
def test_same_verdicts_as_reference_on_real_records(
    database: str, record: str, request: pytest.FixtureRequest
) -> None:
    """cu01: VF with saturation and lost samples; cu06: very noisy VF; 207: ventricular
    flutter; 119e06: electrode motion at 6 dB."""
    folder: Path = request.getfixturevalue(database)
    x = load(folder / record)
    cuts = list(np.random.default_rng(zlib.crc32(record.encode())).integers(0, x.size, 300))
    expected = reference.VfDetector(WORKING_FS).process(x)
    got = streamed(VfDetector(WORKING_FS), x, cuts)
    assert got == expected
    assert any(s.vf_like for s in got) or record == "119e06"
