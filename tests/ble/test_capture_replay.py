"""Captures: written as `ecgmon record` does, replayed bit for bit by the virtual strap."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from monitor.ble import hrs, pmd
from monitor.ble.capture import CaptureWriter, read_capture
from monitor.ble.events import DuplicateFrame, Gap, Malformed, OutOfOrderFrame, StreamStopped
from monitor.ble.virtual import Faults, VirtualStrap
from monitor.errors import InputError
from tests.ble.helpers import N, run_session, strap

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "captures"


def record(vstrap: VirtualStrap, path: Path) -> None:
    writer: list[CaptureWriter] = []

    def observe(char: str, kind: str, data: bytes, t_ns: int) -> None:
        if not writer:
            writer.append(CaptureWriter(path, vstrap.name, vstrap.address, t_ns))
        writer[0].write(char, kind, data, t_ns)

    run_session(vstrap, observer=observe)
    writer[0].close()


def test_record_then_replay_is_bit_for_bit(tmp_path: Path) -> None:
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    record(strap(40, Faults(drop=frozenset({7}), duplicate=frozenset({12}))), first)
    record(VirtualStrap.from_capture(first), second)
    a, b = read_capture(first), read_capture(second)
    for char in (pmd.PMD_DATA_UUID, hrs.HR_MEASUREMENT_UUID):
        sent = [r.data for r in a.notifications(char)]
        assert sent and sent == [r.data for r in b.notifications(char)]
    assert a.device_name == b.device_name == "Polar H10 0A1B2C3D"
    # host receive times keep their spacing (the replay paces like the recording)
    ta = np.diff([r.t_ns for r in a.notifications(pmd.PMD_DATA_UUID)])
    tb = np.diff([r.t_ns for r in b.notifications(pmd.PMD_DATA_UUID)])
    assert np.allclose(ta, tb, atol=1e3)


def test_fixture_capture_replays_with_every_fault_reported() -> None:
    path = FIXTURES / "h10_faults_60s.jsonl"
    capture = read_capture(path)
    run = run_session(VirtualStrap.from_capture(path))
    sent = capture.notifications(pmd.PMD_DATA_UUID)
    decoded = []
    for record_ in sent:
        try:
            decoded.append(pmd.decode_ecg_frame(record_.data))
        except Exception:
            continue
    unique = sorted({f.sensor_ns: f for f in decoded}.values(), key=lambda f: f.sensor_ns)
    np.testing.assert_array_equal(run.samples(),
                                  np.concatenate([f.samples_uv for f in unique]))
    assert len(run.of(DuplicateFrame)) == 1
    assert [o.recovered for o in run.of(OutOfOrderFrame)] == [True]
    assert len(run.of(Malformed)) == 1
    # frames 10, 40-41 were dropped and 50 garbled: the gaps say exactly that
    assert [(run.before(g), g.samples) for g in run.of(Gap)] == [
        (10 * N, N), (39 * N, 2 * N), (47 * N, N)]
    assert isinstance(run.items[-1], StreamStopped)


def test_clean_fixture_replays_without_events() -> None:
    run = run_session(VirtualStrap.from_capture(FIXTURES / "h10_synthetic_60s.jsonl"))
    assert len(run.samples()) == 106 * N
    assert not run.of(Gap) and not run.of(Malformed) and not run.of(DuplicateFrame)


def test_bad_capture_files_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read capture"):
        read_capture(tmp_path / "missing.jsonl")
    not_capture = tmp_path / "x.jsonl"
    not_capture.write_text('{"hello": 1}\n')
    with pytest.raises(InputError, match="not an ecgmon capture"):
        read_capture(not_capture)
    bad_line = tmp_path / "y.jsonl"
    good = (FIXTURES / "h10_synthetic_60s.jsonl").read_text().splitlines()
    bad_line.write_text("\n".join([*good[:5], '{"t_ns": 1, "char": "x", "hex": "zz"}']) + "\n")
    with pytest.raises(InputError, match=r"y.jsonl:6"):
        read_capture(bad_line)
    with pytest.raises(InputError, match="already exists"):
        CaptureWriter(bad_line, "n", "a", 0)
