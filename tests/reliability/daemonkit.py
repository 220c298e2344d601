"""`ecgmon daemon` as a real process in a private folder, for fault and socket tests.

Everything the daemon touches (config, socket, log, recipients) lives under one
temporary root; the replay is the repository's synthetic fixture through the virtual
strap, sped up. `status()` reads the daemon's own status message from its socket.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "fixtures" / "synthetic_130hz.csv"
READY_S = 90.0


def daemon_env(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"
    env.update(
        ECGMON_CONFIG=str(root / "none.toml"),
        ECGMON_CONFIG_DIR=str(root / "config"),
        XDG_RUNTIME_DIR=str(root / "run"),
        PYTHONPATH=str(REPO),
    )
    return env


def read_message(sock: Path, want: str, timeout: float) -> dict[str, Any]:
    """Connect to the daemon's socket and read messages until one of type `want`."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(sock))
        buf = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                msg = json.loads(line)
                if msg.get("type") == want:
                    return dict(msg)
    raise TimeoutError(f"no {want!r} message from the daemon")


@dataclass
class DaemonProc:
    proc: subprocess.Popen[str]
    sock: Path
    log: Path
    err: Path
    client_preexec: Callable[[], None] | None = None
    """Set when the daemon runs as another user: clients must run as that user too."""

    def lines(self, want: str, timeout: float = 10.0) -> dict[str, Any]:
        """Connect, read messages until one of type `want`; return it."""
        if self.client_preexec is not None:
            out = subprocess.run(
                [sys.executable, "-m", "tests.reliability.daemonkit", str(self.sock), want],
                cwd=REPO,
                env=daemon_env(self.sock.parent.parent),
                capture_output=True,
                text=True,
                timeout=timeout + 30,
                preexec_fn=self.client_preexec,
                check=False,
            )
            if out.returncode != 0:
                raise TimeoutError(out.stderr.strip()[-500:])
            return dict(json.loads(out.stdout))
        return read_message(self.sock, want, timeout)

    def status(self) -> dict[str, Any]:
        return self.lines("status")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> int:
        """SIGTERM and wait; the exit code (None -> killed after 30 s)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return -999
        return int(self.proc.returncode)

    def stderr(self) -> str:
        try:
            return self.err.read_text(errors="replace")
        except OSError:
            return ""


def start(
    root: Path,
    *,
    recipients: Path | None,
    log: Path | None = None,
    replay: Path = FIXTURE,
    speed: float = 20.0,
    preexec: Callable[[], None] | None = None,
    as_other_user: bool = False,
    wait: bool = True,
) -> DaemonProc:
    """Start the daemon under `root`; with `wait`, return once its socket says hello.

    as_other_user: `preexec` switches to another uid, so the test's own clients must
    switch too (the daemon refuses any other uid on its socket)."""
    (root / "run").mkdir(mode=0o700, exist_ok=True)
    sock = root / "run" / "d.sock"
    log = log or root / "data" / "ecgmon-log.sqlite"
    cmd = [
        sys.executable, "-m", "monitor", "daemon", "--replay", str(replay),
        "--speed", str(speed), "--loop", "--socket", str(sock), "--log", str(log),
    ]  # fmt: skip
    if recipients is not None:
        cmd += ["--recipients-file", str(recipients)]
    # stderr to a file, never a pipe nobody reads: a full pipe would block the daemon.
    err = (root / "daemon.err").open("a")
    proc = subprocess.Popen(
        cmd,
        env=daemon_env(root),
        stdout=subprocess.DEVNULL,
        stderr=err,
        text=True,
        preexec_fn=preexec,
        cwd=root,
    )
    err.close()
    daemon = DaemonProc(
        proc, sock, log, root / "daemon.err", client_preexec=preexec if as_other_user else None
    )
    if wait:
        deadline = time.monotonic() + READY_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"daemon exited {proc.returncode}: {daemon.stderr()[-2000:]}")
            try:
                daemon.lines("hello", timeout=5.0)
                break
            except (OSError, TimeoutError):
                if time.monotonic() > deadline:
                    daemon.kill()
                    raise
                time.sleep(0.1)
    return daemon


def wait_for(predicate: Callable[[], bool], timeout: float, step: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


if __name__ == "__main__":  # a client run as another user: print one message as JSON
    print(json.dumps(read_message(Path(sys.argv[1]), sys.argv[2], 10.0)))
