"""The benchmark's stage table names each stage the daemon's pipeline runs: the
RhythmStage's quality, VF, rhythm and alerts each get their own row, and none is timed
twice (a stage's time must not include another's)."""

from __future__ import annotations

from benchkit.chain import pipeline_parts

from monitor.daemon.runner import build_pipeline


def test_the_rhythm_stage_is_timed_by_its_parts() -> None:
    pipeline, problems = build_pipeline()
    assert not problems, problems
    parts = pipeline_parts(pipeline)
    for name in (
        "ECG filter",
        "QRS detector",
        "beat classifier",
        "signal quality",
        "VF detector",
        "rhythm analysis",
        "alerts",
    ):
        assert name in parts, sorted(parts)
    # Each object once: the RhythmStage itself is not a part around its own parts.
    assert len({id(obj) for obj in parts.values()}) == len(parts)
    assert type(parts["rhythm analysis"]).__name__ == "RhythmAnalyzer"
