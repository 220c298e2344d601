"""`ecgmon demo` as a user runs it: in a terminal (a pseudo-terminal here), quit with q."""

from __future__ import annotations

import contextlib
import os
import pty
import re
import select
import signal
import struct
import sys
import tempfile
import termios
import time
from fcntl import ioctl
from pathlib import Path

import pytest

TIMEOUT_S = 60.0


def read_until(fd: int, pattern: bytes, seen: bytearray) -> bool:
    deadline = time.monotonic() + TIMEOUT_S
    while not re.search(pattern, seen) and time.monotonic() < deadline:
        if select.select([fd], [], [], 0.5)[0]:
            try:
                chunk = os.read(fd, 1 << 16)
            except OSError:
                return re.search(pattern, seen) is not None
            if not chunk:
                break
            seen.extend(chunk)
    return re.search(pattern, seen) is not None


def stop(pid: int) -> None:
    """SIGTERM (the demo then removes its temporary folder), SIGKILL if it hangs."""
    for sig, wait_s in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
        try:
            if os.waitpid(pid, os.WNOHANG)[0]:
                return
            os.kill(pid, sig)
        except (ProcessLookupError, ChildProcessError):
            return
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            try:
                if os.waitpid(pid, os.WNOHANG)[0]:
                    return
            except ChildProcessError:
                return
            time.sleep(0.05)


@pytest.mark.skipif(sys.platform != "linux", reason="pseudo-terminal test for Linux")
@pytest.mark.parametrize("quit_by", ["q", "sigterm"])
def test_demo_opens_the_live_screen_and_quits_cleanly(quit_by: str) -> None:
    before = set(Path(tempfile.gettempdir()).glob("ecgmon-demo-*"))
    pid, fd = pty.fork()
    if pid == 0:  # the child: the command a user types
        os.environ["TERM"] = "xterm-256color"
        os.execv(sys.executable, [sys.executable, "-m", "monitor", "demo", "--speed", "5"])
    try:
        ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        seen = bytearray()
        assert read_until(fd, rb"\d+ bpm", seen), seen[-2000:]  # a heart rate is on screen
        assert b"connected" in seen and b"non-diagnostic" in seen
        if quit_by == "q":
            os.write(fd, b"q")
        else:
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + TIMEOUT_S
        status = None
        while time.monotonic() < deadline:
            if select.select([fd], [], [], 0.2)[0]:
                with contextlib.suppress(OSError):
                    os.read(fd, 1 << 16)
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
        assert status is not None and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    finally:
        stop(pid)
        os.close(fd)
    assert set(Path(tempfile.gettempdir()).glob("ecgmon-demo-*")) == before
