"""The daemon's local socket under stress: bad lines, 50 clients, a client that never
reads, and a peer of another uid. The daemon is the real process; the protocol parser
is fuzzed directly.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from . import daemonkit
from .conftest import Tally, fuzz

protocol = pytest.importorskip("monitor.daemon.protocol", reason="needs the daemon (daemon branch)")

FUZZ = fuzz(3000)

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
_messages = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(str.encode),
    _json.map(lambda v: json.dumps(v).encode()),
    st.builds(
        lambda v, t, extra: json.dumps({"v": v, "type": t, **extra}).encode(),
        st.one_of(st.just(protocol.PROTOCOL_VERSION), _json),
        st.one_of(st.sampled_from(["ping", "status", "ack", "hello"]), _json),
        st.dictionaries(st.text(max_size=6), _json, max_size=3),
    ),
)


@FUZZ
@given(line=_messages)
def test_any_line_decodes_or_is_a_protocol_error(line: bytes, tally: Tally) -> None:
    """Random bytes, text, JSON of any shape and near-valid messages: `decode` returns a
    message of our version with a string type, or raises ProtocolError, nothing else."""
    tally.case()
    try:
        msg = protocol.decode(line)
    except protocol.ProtocolError as exc:
        assert str(exc)
        return
    assert msg["v"] == protocol.PROTOCOL_VERSION and isinstance(msg["type"], str)


@pytest.fixture
def root() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="ecgrel-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _connect(sock: Path, timeout: float = 10.0) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(str(sock))
    return s


def _read_until(s: socket.socket, want: str, buf: bytearray) -> dict[str, object]:
    while True:
        while b"\n" in buf:
            i = buf.index(b"\n")
            line = bytes(buf[:i])
            del buf[: i + 1]
            msg = json.loads(line)
            if msg.get("type") == want:
                return dict(msg)
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a {want!r} message")
        buf.extend(chunk)


def test_fifty_clients_at_once_are_all_served(root: Path, tally: Tally) -> None:
    """50 clients connect together: each gets hello and status, each ping gets its pong,
    the daemon counts 50 clients, and streaming goes on."""
    daemon = daemonkit.start(root, recipients=None)
    clients: list[tuple[socket.socket, bytearray]] = []
    try:
        assert daemonkit.wait_for(lambda: daemon.status()["stream_s"] > 1.0, timeout=30.0)
        first = daemon.status()["stream_s"]
        for _ in range(50):
            clients.append((_connect(daemon.sock), bytearray()))
            tally.case()
        for s, buf in clients:
            _read_until(s, "hello", buf)
        for s, _ in clients:
            s.sendall(protocol.encode("ping"))
        for s, buf in clients:
            _read_until(s, "pong", buf)
        counted = daemonkit.wait_for(lambda: daemon.status()["clients"] >= 50, timeout=10.0)
        assert counted, daemon.status()["clients"]
        assert daemonkit.wait_for(lambda: daemon.status()["stream_s"] > first, timeout=10.0)
    finally:
        for s, _ in clients:
            s.close()
        code = daemon.stop()
    assert code == 0


def test_a_client_that_never_reads_is_dropped_and_others_keep_going(
    root: Path, tally: Tally
) -> None:
    """A client connects and never reads while the daemon streams at 50x: the daemon
    drops it rather than buffering without bound, its memory stays within 50 MB of where
    it started, and a reading client keeps getting live data."""
    psutil = pytest.importorskip("psutil")
    daemon = daemonkit.start(root, recipients=None, speed=50.0)
    proc = psutil.Process(daemon.proc.pid)
    stuck = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.connect(str(daemon.sock))
    tally.fault()
    try:
        rss0 = proc.memory_info().rss
        reader, buf = _connect(daemon.sock), bytearray()
        dropped = daemonkit.wait_for(lambda: daemon.status()["clients"] <= 2, timeout=5.0)
        deadline = time.monotonic() + 30.0
        samples = 0
        while time.monotonic() < deadline and (samples < 20 or not dropped):
            _read_until(reader, "samples", buf)
            samples += 1
            dropped = daemon.status()["clients"] <= 2  # the reader + this status probe
        growth_mb = (proc.memory_info().rss - rss0) / 1e6
        tally.note(f"RSS growth while the client was stuck: {growth_mb:.1f} MB")
        assert samples >= 20, "the reading client starved"
        assert dropped, "the client that never reads was never dropped"
        assert growth_mb < 50.0
        reader.close()
    finally:
        stuck.close()
        code = daemon.stop()
    assert code == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to connect as another real uid")
def test_a_peer_of_another_uid_is_refused_by_so_peercred(root: Path, tally: Tally) -> None:
    """The socket is opened up to everyone (mode 0666, as if by mistake) and a process
    running as `nobody` connects: SO_PEERCRED still refuses it with an error message."""
    daemon = daemonkit.start(root, recipients=None)
    os.chmod(root, 0o755)
    os.chmod(root / "run", 0o755)
    os.chmod(daemon.sock, 0o666)
    tally.fault()
    read_end, write_end = os.pipe()
    try:
        pid = os.fork()
        if pid == 0:  # the child: become nobody, connect, report the first line
            try:
                os.close(read_end)
                os.setgid(65534)
                os.setuid(65534)
                s = _connect(daemon.sock, timeout=10.0)
                data = b""
                while not data.endswith(b"\n"):
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                os.write(write_end, data[:4000] or b"<closed>")
            except BaseException as exc:  # report anything to the parent
                os.write(write_end, f"<child error {exc!r}>".encode())
            finally:
                os._exit(0)
        os.close(write_end)
        os.waitpid(pid, 0)
        with os.fdopen(read_end, "rb") as pipe:
            answer = pipe.read().decode(errors="replace")
        assert daemon.alive()
        assert '"type":"error"' in answer.replace(" ", "") and "refused" in answer, answer
        assert "hello" not in answer
        assert daemon.status()["connection"]  # the owner is still served
    finally:
        code = daemon.stop()
    assert code == 0
