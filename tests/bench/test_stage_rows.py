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


def e2e(layers: dict[str, float]) -> E2E:
    stages = {
        "QRS detector": 1.0,
        "beat classifier": 2.0,
        "signal quality": 0.5,
        "VF detector": 0.25,
        "encrypted log": 1.5,
    }
    inside = {
        "pipeline": ["QRS detector", "VF detector", "beat classifier", "signal quality"],
        "rhythm layer": ["VF detector", "signal quality"],
    }
    return E2E(
        Section("End-to-end replay", Status.MEASURED, []),
        {k: Stats((v,)) for k, v in stages.items()},
        Stats((7.0,)),
        [],
        {k: Stats((v,)) for k, v in layers.items()},
        {k: inside[k] for k in layers},
    )


def test_without_the_layers_timed_the_remainder_is_one_row() -> None:
    assert rest_rows(e2e({})) == [(REST, pytest.approx(1.75))]


def test_each_layer_has_its_glue_and_the_split_adds_up_to_the_remainder() -> None:
    rows = dict(rest_rows(e2e({"pipeline": 4.5, "rhythm layer": 1.0})))
    assert rows[GLUE["rhythm layer"]] == pytest.approx(0.25)  # 1.0 around 0.75 of stages
    assert rows[GLUE["pipeline"]] == pytest.approx(0.5)  # 4.5 - 3.0 direct - 1.0 layer
    assert rows[LOOP] == pytest.approx(1.0)  # 7.0 - 5.25 timed - 0.75 glue
    assert sum(rows.values()) == pytest.approx(7.0 - 5.25)


def test_the_chain_times_the_pipeline_around_its_stages(tmp_path: Path) -> None:
    pytest.importorskip("monitor.pipeline")
    chain = build_chain(130.0, tmp_path, timed=True)
    t = np.arange(130 * 30) / 130.0
    x = 1000.0 * np.exp(-0.5 * (((t % 0.8) - 0.4) / 0.012) ** 2)
    for start in range(0, x.size, 1300):
        chain.feed(frame_of(x[start : start + 1300], 1 + start, 130.0))
    chain.finish()
    chain.close()
    inside = chain.layer_stages
    assert {"ECG filter", "QRS detector", "signal quality"} <= set(inside["pipeline"])
    assert "encrypted log" not in inside["pipeline"]
    assert set(inside["rhythm layer"]) == {"signal quality", "VF detector", "rhythm analysis",
                                           "alerts"}  # fmt: skip
    for name, stages in inside.items():
        timed = sum(chain.stage_cpu[stage] for stage in stages)
        assert chain.layer_cpu[name] >= timed > 0
    assert chain.layer_cpu["pipeline"] >= chain.layer_cpu["rhythm layer"]
