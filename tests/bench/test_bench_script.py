"""scripts/bench.py: which sections a run includes, the command it reports, and the
per-stage profile (no speed is asserted: speed is measured by the script itself)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np
import pytest

if TYPE_CHECKING:
    from benchkit.corpus import Corpus

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def bench_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_script", SCRIPTS / "bench.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("argv", "live", "command"),
    [
        ([], True, "python scripts/bench.py"),
        (["--profile"], True, "python scripts/bench.py --profile"),
        (["--no-live"], False, "python scripts/bench.py --no-live"),
        (["--quick"], False, "python scripts/bench.py --quick"),
        (["--quick", "--live"], True, "python scripts/bench.py --quick --live"),
        (["--records", "100", "--repeats", "1"], False,
         "python scripts/bench.py --repeats 1 --records 100"),
    ],
)  # fmt: skip
def test_the_full_run_includes_the_live_daemon_and_reports_its_command(
    argv: list[str], live: bool, command: str
) -> None:
    bench = bench_module()
    args = bench.parse_args(argv)
    assert bench.want_live(args) is live
    assert bench.command_line(args) == command


def test_live_and_no_live_exclude_each_other() -> None:
    with pytest.raises(SystemExit):
        bench_module().parse_args(["--live", "--no-live"])


def synthetic_corpus(minutes: float) -> Corpus:
    from benchkit.corpus import WORKING_FS, Corpus, Record

    fs = WORKING_FS
    t = np.arange(int(minutes * 60 * fs)) / fs
    beats = np.arange(0.4, t[-1], 0.8)
    x = np.zeros_like(t)
    for b in beats:
        x += 1000.0 * np.exp(-0.5 * ((t - b) / 0.012) ** 2)
    x += np.random.default_rng(0).normal(0, 10, t.size)
    record = Record("synthetic", fs, x, np.round(beats * fs).astype(np.int64))
    return Corpus((record,), Path("synthetic"))


def test_profile_breaks_each_stage_down_into_its_own_functions() -> None:
    pytest.importorskip("monitor.pipeline")
    from benchkit.profile import profile_section, profile_stages

    corpus = synthetic_corpus(3)
    stages = {s.name: s for s in profile_stages(corpus, lambda _msg: None)}
    assert {"ECG filter", "QRS detector", "signal quality"} <= set(stages)
    quality = stages["signal quality"]
    assert quality.hotspots and quality.profiled_s > 0
    assert any("quality.py" in h.function or "sosfilt" in h.function for h in quality.hotspots)
    for stage in stages.values():  # hotspots are ordered by their own time
        own = [h.own_s for h in stage.hotspots]
        assert own == sorted(own, reverse=True)
    text = "\n".join(profile_section(corpus, lambda _msg: None).markdown())
    assert "## Where each stage spends its time (profile)" in text
    assert "signal quality (" in text
