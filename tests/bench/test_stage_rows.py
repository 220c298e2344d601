"""The stage table stays honest: what no stage timer saw is reported, split into the
pipeline's own glue and the replay loop only when the pipeline's calls were timed, and
the split adds up to the same remainder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from benchkit.chain import build_chain, frame_of
from benchkit.e2e import E2E
from benchkit.report import Section, Status
from benchkit.stages import GLUE, LOOP, REST, rest_rows
from benchkit.timing import Stats


def e2e(pipeline_cpu: float | None) -> E2E:
    stages = {"QRS detector": 1.0, "beat classifier": 2.0, "encrypted log": 1.5}
    return E2E(
        Section("End-to-end replay", Status.MEASURED, []),
        {k: Stats((v,)) for k, v in stages.items()},
        Stats((6.0,)),
        [],
        None if pipeline_cpu is None else Stats((pipeline_cpu,)),
        ("QRS detector", "beat classifier"),
    )


def test_without_the_pipeline_timed_the_remainder_is_one_row() -> None:
    assert rest_rows(e2e(None)) == [(REST, pytest.approx(1.5))]


def test_the_split_adds_up_to_the_remainder() -> None:
    rows = dict(rest_rows(e2e(3.4)))
    assert rows[GLUE] == pytest.approx(0.4)  # 3.4 in the pipeline, 3.0 in its stages
    assert rows[LOOP] == pytest.approx(1.1)  # 6.0 - 4.5 timed - 0.4 glue
    assert sum(rows.values()) == pytest.approx(6.0 - 4.5)


def test_the_chain_times_the_pipeline_around_its_stages(tmp_path: Path) -> None:
    pytest.importorskip("monitor.pipeline")
    chain = build_chain(130.0, tmp_path, timed=True)
    t = np.arange(130 * 30) / 130.0
    x = 1000.0 * np.exp(-0.5 * (((t % 0.8) - 0.4) / 0.012) ** 2)
    for start in range(0, x.size, 1300):
        chain.feed(frame_of(x[start : start + 1300], 1 + start, 130.0))
    chain.finish()
    chain.close()
    assert {"ECG filter", "QRS detector"} <= set(chain.pipeline_stages)
    assert "encrypted log" not in chain.pipeline_stages
    inside = sum(chain.stage_cpu[name] for name in chain.pipeline_stages)
    assert chain.outer_cpu["pipeline"] >= inside > 0
