"""Storage faults with the real daemon process: kills, a full disk, a read-only folder,
a log replaced by garbage. What is stored stays stored and verifiable; the daemon says
what is wrong instead of dying, and never destroys a file it cannot read.
"""

from __future__ import annotations

import contextlib
import os
import random
import resource
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("monitor.daemon.service", reason="needs the daemon (daemon branch)")
pytest.importorskip("monitor.store.reader", reason="needs the encrypted log (store branch)")

from monitor.store.keys import Identity
from monitor.store.reader import LogReader
from monitor.store.recipients import save_recipients

from . import daemonkit
from .conftest import Tally

KILLS = 20


@pytest.fixture
def root() -> Iterator[Path]:
    """A short private folder (Unix socket paths are limited to ~100 bytes)."""
    folder = Path(tempfile.mkdtemp(prefix="ecgrel-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def patient(root: Path) -> tuple[Identity, Path]:
    identity = Identity.generate()
    path = root / "recipients.json"
    save_recipients(path, [identity.recipient])
    return identity, path


def _verified_count(log: Path, identity: Identity) -> int:
    with LogReader(log) as reader:
        report = reader.verify(identity)
        assert report.ok, report.render()
        return int(reader.record_count())


def test_twenty_sigkills_while_writing_lose_nothing_stored(
    root: Path, patient: tuple[Identity, Path], tally: Tally
) -> None:
    """SIGKILL the daemon at a random moment (0.2-2.5 s into streaming), 20 times on the
    same log: after each kill the log verifies with the patient's key and holds every
    record it held before (the count never goes down), and the daemon starts again."""
    identity, recipients = patient
    rng = random.Random(8)
    before = 0
    for _ in range(KILLS):
        daemon = daemonkit.start(root, recipients=recipients, speed=50.0)
        time.sleep(rng.uniform(0.2, 2.5))
        daemon.kill()
        tally.fault()
        after = _verified_count(daemon.log, identity)
        tally.lost(max(0, before - after))
        assert after >= before
        before = after
    assert before > 0, "nothing was ever written"


def _limit_file_size(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_full_disk_is_reported_and_the_daemon_keeps_serving(
    root: Path, patient: tuple[Identity, Path], tally: Tally
) -> None:
    """RLIMIT_FSIZE of 256 kB (writes beyond it fail with EFBIG, as on a full disk):
    the daemon keeps streaming, its status says storage is full, SIGTERM stops it
    cleanly, and what was written before the limit verifies."""
    identity, recipients = patient
    daemon = daemonkit.start(
        root, recipients=recipients, speed=50.0, preexec=lambda: _limit_file_size(256_000)
    )
    tally.fault()
    try:
        full = daemonkit.wait_for(
            lambda: daemon.status()["storage"]["state"] != "writing", timeout=60.0
        )
        status = daemon.status()
        first = status["stream_s"]
        time.sleep(2.0)
        assert daemon.alive()
        assert daemon.status()["stream_s"] > first, "the live view stopped"
    finally:
        code = daemon.stop()
    assert full, f"storage never reported full: {status['storage']}"
    assert status["storage"]["detail"]
    assert code == 0
    assert _verified_count(daemon.log, identity) > 0


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """Make `folder` unwritable for this process's user: mode 0555, and for root (whom
    modes do not stop) the immutable attribute; skip if neither can be had."""
    os.chmod(folder, 0o555)
    immutable = False
    try:
        if os.geteuid() == 0:
            done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, check=False)
            if done.returncode != 0:
                pytest.skip(f"running as root and chattr +i failed: {done.stderr!r}")
            immutable = True
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=False)
        os.chmod(folder, 0o755)


def test_a_read_only_data_folder_is_reported_not_fatal(
    root: Path, patient: tuple[Identity, Path], tally: Tally
) -> None:
    """The log's folder cannot be written: the daemon still streams and serves its
    socket, its status names the storage problem, and SIGTERM stops it cleanly."""
    _, recipients = patient
    data = root / "data"
    data.mkdir()
    tally.fault()
    with read_only(data):
        daemon = daemonkit.start(root, recipients=recipients)
        try:
            status = daemon.status()
            assert daemon.alive()
            assert status["storage"]["state"] != "writing", status["storage"]
            assert status["storage"]["detail"]
            first = status["stream_s"]
            time.sleep(1.5)
            assert daemon.status()["stream_s"] > first, "the live view stopped"
        finally:
            code = daemon.stop()
    assert code == 0
    assert not any(data.iterdir())


def test_a_log_replaced_by_garbage_is_never_overwritten(
    root: Path, patient: tuple[Identity, Path], tally: Tally
) -> None:
    """The log file is 64 kB of random bytes: the daemon refuses it or sets it aside with
    a clear message, and the bytes are still on disk, unchanged, afterwards."""
    _, recipients = patient
    log = root / "data" / "ecgmon-log.sqlite"
    log.parent.mkdir()
    garbage = random.Random(3).randbytes(64_000)
    log.write_bytes(garbage)
    tally.fault()
    daemon = daemonkit.start(root, recipients=recipients, wait=False)
    try:
        daemonkit.wait_for(lambda: not daemon.alive() or daemon.sock.exists(), timeout=60.0)
        if daemon.alive():
            daemonkit.wait_for(lambda: _answers(daemon), timeout=30.0)
            status = daemon.status()
            assert status["storage"]["state"] != "writing" or _kept_aside(log, garbage)
        else:
            err = daemon.stderr().strip().splitlines()
            assert daemon.proc.returncode == 2 and err and "Traceback" not in "\n".join(err)
    finally:
        daemon.stop()
    kept = [p for p in log.parent.iterdir() if p.is_file() and p.read_bytes() == garbage]
    assert kept, "the unreadable log was overwritten or deleted"


def _answers(daemon: daemonkit.DaemonProc) -> bool:
    try:
        daemon.lines("hello", timeout=2.0)
    except (OSError, TimeoutError):
        return False
    return True


def _kept_aside(log: Path, garbage: bytes) -> bool:
    return any(p.read_bytes() == garbage for p in log.parent.iterdir() if p.is_file())
