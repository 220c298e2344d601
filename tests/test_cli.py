"""`ecgmon`'s start-up: every command listed, only the chosen one imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from monitor.cli import COMMANDS, build_parser, chosen_command, main


def test_help_lists_every_command_with_its_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2  # no command: the help, and exit code 2
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps the help lines
    for name, (_, help_text) in COMMANDS.items():
        assert f"{name} {help_text}" in out


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_listed_help_is_the_commands_own(name: str) -> None:
    """The placeholder help in COMMANDS says what the command's module registers:
    `ecgmon --help` reads the same whichever command's module is loaded."""
    assert build_parser(name).format_help() == build_parser().format_help()


def test_the_chosen_command_is_the_first_word() -> None:
    assert chosen_command(["tui", "--light"]) == "tui"
    assert chosen_command(["--version"]) is None
    assert chosen_command(["nonsense", "tui"]) is None  # argparse then says it is invalid


def test_tui_start_up_does_not_import_scipy(tmp_path: Path) -> None:
    """`ecgmon tui` up to the Textual app's run() (stubbed), in a fresh interpreter:
    the signal path (scipy) and the other commands' modules stay unloaded."""
    script = textwrap.dedent(
        """
        import json, sys
        import monitor.tui.app

        monitor.tui.app.MonitorApp.run = lambda self: None  # start, but do not take the tty
        from monitor.cli import main

        code = main(["tui", "--socket", sys.argv[1]])
        print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
        """
    )
    env = dict(os.environ, ECGMON_CONFIG=str(tmp_path / "absent.toml"))
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "d.sock")],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["code"] == 0
    modules = set(result["modules"])
    assert "monitor.commands.tui" in modules and "textual" in modules
    assert "scipy" not in modules
    others = {module for name, (module, _) in COMMANDS.items() if name != "tui"}
    assert not modules & others
