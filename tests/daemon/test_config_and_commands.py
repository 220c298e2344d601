"""Config file and CLI overrides; `ecgmon config`; `ecgmon demo --headless`; protocol errors."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.daemon import protocol
from monitor.daemon.config import load_config
from monitor.errors import InputError


def test_file_settings_and_command_line_overrides(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[daemon]\nstrap = "Polar H10 1A2B3C4D"\nspeed = 2.0\nrecipients_file = "~/keys.json"\n'
    )
    config = load_config(path, {"speed": 3.0, "replay": None})
    assert config.strap == "Polar H10 1A2B3C4D"
    assert config.speed == 3.0  # the command line wins
    assert config.recipients_file == Path("~/keys.json").expanduser()


@pytest.mark.parametrize(
    "text, message",
    [
        ("[daemon]\nsped = 2\n", "unknown setting"),
        ("[daemon\n", "cannot read"),
        ("[daemon]\nspeed = -1\n", "positive"),
    ],
)
def test_bad_config_files_are_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        load_config(path)


def test_config_command_shows_where_and_what(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "ecgmon" / "config.toml"
    monkeypatch.setenv("ECGMON_CONFIG", str(path))
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert str(path) in out and "not created yet" in out
    assert main(["config", "--init", "--strap", "Polar H10 X", "--speed", "1.5"]) == 0
    capsys.readouterr()
    assert main(["config", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["exists"] and shown["settings"]["strap"] == "Polar H10 X"
    assert shown["settings"]["speed"] == 1.5
    assert main(["config", "--init"]) == 2  # never overwrites
    assert "already exists" in capsys.readouterr().err


def test_daemon_without_a_source_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ECGMON_CONFIG", str(tmp_path / "none.toml"))
    assert main(["daemon", "--socket", str(tmp_path / "s.sock")]) == 2
    assert "no source" in capsys.readouterr().err


def test_headless_demo_prints_status_lines_and_cleans_up(
    synthetic_csv: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A temporary folder of this test's own (short: the demo puts its socket there), so
    # another process's demo folders in /tmp cannot come or go during the check.
    own_tmp = Path(tempfile.mkdtemp(prefix="ecgt-", dir="/tmp"))
    monkeypatch.setattr(tempfile, "tempdir", str(own_tmp))
    before = set(own_tmp.glob("ecgmon-demo-*"))
    assert main(["demo", str(synthetic_csv), "--headless", "--duration", "3", "--speed", "10"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    status = [line for line in lines if line.startswith("t=")]
    assert len(status) >= 2
    assert any("hr=75" in line for line in status)
    # Counts per class (N..Q from the classifier, ? without one) and the log's state.
    assert re.search(r"N=\d+ S=\d+ V=\d+ F=\d+ Q=\d+ \?=\d+ log=(off|writing) ", status[-1])
    assert set(own_tmp.glob("ecgmon-demo-*")) == before == set()
    own_tmp.rmdir()  # nothing else was left in it either


def test_demo_refuses_a_missing_recording(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "/nonexistent/rec.csv", "--headless", "--duration", "1"]) == 2
    assert "no such recording" in capsys.readouterr().err


def test_protocol_rejects_other_versions_and_non_messages() -> None:
    assert protocol.decode(protocol.encode("ping"))["type"] == "ping"
    for bad in (b"[]", b'{"type": "status"}', b'{"v": 2, "type": "status"}', b"\xff"):
        with pytest.raises(protocol.ProtocolError):
            protocol.decode(bad)


@pytest.mark.parametrize(
    ("strap", "address", "name"),
    [
        ("A0:9E:1A:12:34:56", "A0:9E:1A:12:34:56", None),
        ("Polar H10 1A2B3C4D", None, "Polar H10 1A2B3C4D"),
    ],
)
def test_a_strap_is_chosen_by_address_or_name(
    strap: str, address: str | None, name: str | None
) -> None:
    from dataclasses import replace

    from monitor.daemon.config import DaemonConfig
    from monitor.daemon.runner import build_source
    from monitor.daemon.strap import StrapSource

    source = build_source(replace(DaemonConfig(), strap=strap))
    assert isinstance(source, StrapSource)
    config = source._session_config
    assert (config.address, config.name) == (address, name)
    assert config.ecg and not config.heart_rate  # heart rate comes from the ECG itself
    assert strap in source.describe()
