"""README's main command, run as a new user would run it (without the install step)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def readme_command(marker: str) -> str:
    """The command in the code block after an HTML comment marker in README.md."""
    readme = (REPO / "README.md").read_text()
    block = readme.split(f"<!-- {marker} -->", 1)[1].split("```")[1]
    return block.strip()


def test_main_command_is_the_demo_and_runs_headless() -> None:
    """`ecgmon demo` replays the bundled fixture through the whole chain.

    The interactive TUI needs a terminal, so the test runs the same command with
    `--headless` (one status line per second) and checks that beats were detected and
    classified and that the encrypted log was written.
    """
    last = readme_command("main-command").split("&&")[-1]
    args = shlex.split(last)
    assert args[:2] == ["ecgmon", "demo"]
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "monitor",
            *args[1:],
            "--headless",
            "--duration",
            "8",
            "--speed",
            "4",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert run.returncode == 0, run.stderr
    lines = [line for line in run.stdout.splitlines() if line.startswith("t=")]
    assert lines, run.stdout
    final = lines[-1]
    assert " connected " in final
    assert "log=writing" in final
    beats = int(re.search(r" N=(\d+) ", final).group(1))  # type: ignore[union-attr]
    assert beats >= 10, final


def test_test_command_installs_the_test_extra_and_runs_pytest() -> None:
    command = readme_command("test-command")
    assert "pip install -e '.[test]'" in command
    assert command.rstrip().endswith("python -m pytest -q")
