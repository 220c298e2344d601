"""`ecgmon analyze` writes the episodes: '+' rhythm annotations and JSON lines."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from monitor.classify.episode_export import rhythm_annotations, rhythm_track
from monitor.classify.rhythm import Episode
from monitor.cli import main


def test_rhythm_track_flattens_overlaps_by_priority() -> None:
    episodes = [
        Episode("a", "af", 10.0, 100.0, 1.0),
        Episode("b", "tachy", 20.0, 50.0, 1.0),
        Episode("c", "pause", 60.0, 62.5, 1.0),
        Episode("d", "unreadable", 90.0, 120.0, 1.0, reason="noise"),
    ]
    assert rhythm_track(episodes) == [
        (0.0, "(N"), (10.0, "(AFIB"), (60.0, "(PAUSE"), (62.5, "(AFIB"), (90.0, "(UNREAD"),
        (120.0, "(N"),
    ]
    notes = rhythm_annotations(episodes, 360.0, 360 * 200)
    assert notes[1] == (3600, "+", "(AFIB")


def test_analyze_writes_episodes(mitdb, tmp_path: Path, capsys) -> None:
    import wfdb

    assert main(["analyze", str(mitdb / "232"), "--out", str(tmp_path)]) == 0
    lines = (tmp_path / "232.episodes.jsonl").read_text().splitlines()
    episodes = [json.loads(line) for line in lines]
    pauses = [e for e in episodes if e["kind"] == "pause"]
    assert len(pauses) > 50
    assert all(e["evidence"]["rr_s"][0] > 2.0 for e in pauses)
    ann = wfdb.rdann(str(tmp_path / "232"), "rhythm")
    assert set(ann.symbol) == {"+"}
    notes = [n.rstrip("\x00") for n in ann.aux_note]
    assert notes[0] == "(N" and "(PAUSE" in notes and "(SBR" in notes
    assert np.all(np.diff(ann.sample) > 0)
    assert "+" not in set(wfdb.rdann(str(tmp_path / "232"), "ecgmon").symbol)
    assert "episodes" in capsys.readouterr().out


def test_fixture_af_stretch_is_one_af_episode(tmp_path: Path) -> None:
    """fixtures/synthetic_130hz.csv has AF-like RR from 100 to 140 s and nowhere else."""
    fixture = Path(__file__).resolve().parents[2] / "fixtures" / "synthetic_130hz.csv"
    assert main(["analyze", str(fixture), "--fs", "130", "--out", str(tmp_path)]) == 0
    lines = (tmp_path / "synthetic_130hz.episodes.jsonl").read_text().splitlines()
    af = [e for e in map(json.loads, lines) if e["kind"] == "af"]
    assert len(af) == 1
    start, end = af[0]["start_s"], af[0]["end_s"]
    assert 95.0 <= start <= 110.0 and 130.0 <= end <= 145.0
