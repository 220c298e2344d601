"""`ecgmon scan` and `ecgmon record` end to end (virtual strap; and no Bluetooth stack)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from monitor.ble import pmd
from monitor.ble.capture import read_capture
from monitor.cli import main

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "captures"


@pytest.mark.skipif(sys.platform != "linux", reason="BlueZ/D-Bus is the Linux stack")
def test_scan_without_bluez_is_one_clear_line(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str],
                                              tmp_path: Path) -> None:
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path}/no-such-bus")
    assert main(["scan", "--timeout", "0.5"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("ecgmon scan: error: Bluetooth is not available")


def test_record_without_bluez_fails_cleanly_and_writes_nothing(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        tmp_path: Path) -> None:
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path}/no-such-bus")
    out = tmp_path / "c.jsonl"
    assert main(["record", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Bluetooth is not available" in err
    assert not out.exists()


def test_scan_virtual_table_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", "--virtual", "--speed", "20", "--timeout", "2"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["NAME", "ADDRESS", "RSSI", "STREAMS"]
    assert "Polar H10 0A1B2C3D" in table[1] and table[1].endswith("ECG+HR")
    assert main(["scan", "--virtual", "--speed", "20", "--timeout", "2", "--json"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line) == {"name": "Polar H10 0A1B2C3D", "address": "A0:9E:1A:0A:1B:2C",
                                "rssi": -58, "streams": "ECG+HR"}


def test_record_virtual_replaying_a_capture(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    source = FIXTURES / "h10_synthetic_60s.jsonl"
    out = tmp_path / "again.jsonl"
    code = main(["record", "--virtual", "--source", str(source), "--speed", "40",
                 "--duration", "20", "--out", str(out)])
    assert code == 0
    captured = capsys.readouterr()
    assert "streaming: Polar H10 0A1B2C3D, ecg+hr" in captured.err
    assert captured.out.startswith("recorded ")
    again = read_capture(out)
    original = [r.data for r in read_capture(source).notifications(pmd.PMD_DATA_UUID)]
    got = [r.data for r in again.notifications(pmd.PMD_DATA_UUID)]
    assert len(got) >= 20 and got == original[: len(got)]  # the same bytes, in order
    # refusing to overwrite keeps what is there
    assert main(["record", "--virtual", "--out", str(out), "--duration", "1"]) == 2
    assert read_capture(out).records == again.records
