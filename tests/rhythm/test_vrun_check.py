"""The V-run rate check: beats called V at the patient's usual rate make no couplet or
run (`monitor.classify.vrun_check`, `RhythmConfig.vrun_fast_ratio`)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.classify.rhythm import RhythmAnalyzer, RhythmConfig, run_rhythm
from monitor.classify.vrun_check import MIN_INTERVALS, fastest_rr, is_fast, usual_rr

from .helpers import FS, bad_seconds, beats_from_rr, good_seconds, kinds, quiet_vf

OFF = RhythmConfig(vrun_fast_ratio=math.inf)
RUN_KINDS = ("couplet", "triplet", "nsvt", "vt")


def test_usual_rr_is_the_median_once_enough_intervals_are_known() -> None:
    assert usual_rr([0.8] * (MIN_INTERVALS - 1)) is None
    assert usual_rr([0.8, 0.9, 0.7, 2.5, 0.8]) == pytest.approx(0.8)


def test_fastest_rr_takes_the_onset_and_the_inner_intervals() -> None:
    assert fastest_rr(0.9, [10.0, 10.5, 11.2]) == pytest.approx(0.5)
    assert fastest_rr(0.4, [10.0, 10.5]) == pytest.approx(0.4)
    assert fastest_rr(None, [10.0, 10.6]) == pytest.approx(0.6)
    assert fastest_rr(None, [10.0]) is None


def test_is_fast_keeps_what_it_cannot_judge() -> None:
    assert is_fast(0.7, 0.8, 0.95)  # 0.875 of the usual RR: fast
    assert not is_fast(0.78, 0.8, 0.95)  # 0.975: the usual rate
    assert is_fast(None, 0.8, 0.95) and is_fast(0.78, None, 0.95)
    assert is_fast(0.78, 0.8, math.inf)


def _analyse(rr: list[float], labels: str, config: RhythmConfig | None = None) -> list[str]:
    beats = beats_from_rr(rr, labels)
    seconds = int(beats[-1].time_s) + 2
    analyzer = RhythmAnalyzer(config or RhythmConfig(vrun_fast_ratio=0.95))
    events = analyzer.process(beats, good_seconds(0, seconds), quiet_vf(0, seconds))
    return [k for k in kinds(events + analyzer.flush()) if k in RUN_KINDS]


def test_v_calls_at_the_usual_rate_make_no_run_premature_ones_do() -> None:
    usual = [0.8] * 10
    # paced-like: three beats called V at the sinus interval
    assert _analyse(usual + [0.8] * 6, "N" * 11 + "VVV" + "NNN") == []
    assert _analyse(usual + [0.8] * 6, "N" * 11 + "VVV" + "NNN", OFF) == ["triplet"]
    # a premature run: early onset, fast
    assert _analyse([*usual, 0.45, 0.45, 0.45, 1.2, 0.8], "N" * 11 + "VVV" + "NN") == ["triplet"]
    # a late-coupled couplet: starts at the usual RR, its second beat comes early
    assert _analyse([*usual, 0.8, 0.55, 1.0, 0.8], "N" * 11 + "VV" + "NN") == ["couplet"]
    # without a known usual rhythm (the first beats) the run is kept
    assert _analyse([0.8] * 5, "NVVVNN") == ["triplet"]


def test_usual_rate_is_remembered_across_a_short_unreadable_stretch() -> None:
    """Beats called V at the usual rate right after a few unreadable seconds (the
    analysis restarts there, so no N-N interval is known yet) still make no run: the
    usual RR from before the stretch is kept, as the AF window is (NSTDB 118e06 at
    865 s: four normal beats called V just after noise)."""
    labels = "N" * 14 + "NNN" + "VVVV" + "N" * 6
    beats = beats_from_rr([0.7] * (len(labels) - 1), labels)  # 86/min
    seconds = int(beats[-1].time_s) + 2
    noisy = int(beats[14].time_s)  # this second and the next: beats 14-16 are not used
    assert int(beats[17].time_s) >= noisy + 2

    def runs(config: RhythmConfig) -> list[str]:
        quality = good_seconds(0, noisy) + bad_seconds(noisy, noisy + 2)
        quality += good_seconds(noisy + 2, seconds)
        analyzer = RhythmAnalyzer(config)
        events = analyzer.process(beats, quality, quiet_vf(0, seconds)) + analyzer.flush()
        return [k for k in kinds(events) if k in RUN_KINDS]

    assert runs(OFF) == ["nsvt"]
    assert runs(RhythmConfig()) == []
    # after a long gap (beyond `bridge_s`) the old rate is not trusted: kept, as unknown
    assert runs(RhythmConfig(bridge_s=1.0)) == ["nsvt"]


@settings(max_examples=60, deadline=None)
@given(
    base=st.floats(0.5, 1.3),
    n_v=st.integers(2, 8),
    jitter=st.lists(st.floats(-0.02, 0.02), min_size=30, max_size=30),
)
def test_no_run_at_a_steady_rate_whatever_its_length(
    base: float, n_v: int, jitter: list[float]
) -> None:
    """A steady rhythm (within 2.5%) never holds a fast interval, so no V labels on it
    make a run; with the check off they do (where fast enough for `vrun_min_bpm`)."""
    rr = [base * (1.0 + j) for j in jitter]
    labels = "N" * 12 + "V" * n_v + "N" * (31 - 12 - n_v)
    assert _analyse(rr, labels) == []


def _reference_beats(mitdb: Path, record: str):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    import evaluate_rhythm as ev

    from monitor.evaluation import load_reference
    from monitor.signal.qrs import detect_qrs
    from monitor.signal.resample import resample_record

    ref = load_reference(mitdb / record)
    x = resample_record(ref.samples_uv, ref.fs, FS)
    beats = ev.reference_labeller(
        x, detect_qrs(x, FS), ev.RefLike(ref.fs, ref.beat_samples, ref.beat_symbols)
    )
    return ev, ref, x, beats


def _runs(x: np.ndarray, beats, config: RhythmConfig) -> list[tuple[str, float, float]]:
    return [
        (e.kind, e.start_s, e.end_s)
        for e in run_rhythm(x, FS, beats, config)
        if e.kind in RUN_KINDS and e.final
    ]


@pytest.mark.parametrize("record", ["208", "203", "223"])
def test_ds1_reference_runs_all_stay(mitdb: Path, record: str) -> None:
    """DS1 (where the ratio was chosen), reference beat labels: every couplet and run
    is still reported, 208's late-coupled couplets included."""
    _, _, x, beats = _reference_beats(mitdb, record)
    checked = _runs(x, beats, RhythmConfig())
    assert len(checked) >= 20
    assert checked == _runs(x, beats, OFF)


def test_ds1_normal_beats_called_v_make_no_run(mitdb: Path) -> None:
    """DS1 record 112 (sinus rhythm, no ventricular ectopy): its real beat times, with
    three consecutive normal beats called V (what the out-of-fold classifier did
    there) every 60 beats: the check off reports nearly each as a triplet, the check
    on almost none (sinus arrhythmia shortens an interval now and then)."""
    from dataclasses import replace

    _, _, x, beats = _reference_beats(mitdb, "112")
    assert not _runs(x, beats, OFF)
    mislabelled = list(beats)
    starts = range(100, len(beats) - 10, 60)
    for s in starts:
        for k in range(s, s + 3):
            mislabelled[k] = replace(beats[k], label="V", confidence=0.95)
    unchecked = _runs(x, mislabelled, OFF)
    checked = _runs(x, mislabelled, RhythmConfig())
    assert len(unchecked) >= 0.9 * len(starts)
    assert set(checked) <= set(unchecked)
    assert len(checked) <= 0.1 * len(unchecked)


def test_oof_labels_need_a_fold_model_for_every_ds1_record(tmp_path: Path) -> None:
    """`tune_rhythm.py --labels oof` refuses a folder that does not hold out every DS1
    patient (a record labelled by a model trained on it would be in-sample again)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    import json

    import tune_rhythm

    (tmp_path / "beat-oof-fold1.json").write_text(json.dumps({"held_out": ["101", "106"]}))
    with pytest.raises(SystemExit, match="holds out 108"):
        tune_rhythm.oof_labeller(tmp_path)
