"""A writer process for the crash and disk-full tests (run as a subprocess).

python -m tests.store.writer_child kill LOG PUBKEY      append forever, print "ack i"
python -m tests.store.writer_child kill-nosync LOG PUBKEY   the same with durable=False
python -m tests.store.writer_child full LOG PUBKEY      fill a file-size limit, recover
python -m tests.store.writer_child sink LOG PUBKEY      the daemon's sink: a 10 s frame then an
                                                        episode, forever; "ack i" once episode
                                                        i's commit (the next block's) returned
"""

from __future__ import annotations

import resource
import signal
import sys
from pathlib import Path

from monitor.store import LogWriter, Recipient
from tests.store.conftest import T0, ecg_block


def run_until_killed(log: Path, recipient: Recipient, durable: bool = True) -> None:
    writer = LogWriter(log, [recipient])
    i = 0
    while True:
        if writer.append(ecg_block(i), durable=durable):
            print(f"ack {i}", flush=True)
        i += 1


def run_sink_until_killed(log: Path, recipient: Recipient) -> None:
    from monitor.daemon.storage import EncryptedLogSink
    from monitor.frame import EcgFrame

    sink = EncryptedLogSink.open(log, [recipient], lambda: T0)
    i = 0
    while True:
        block = ecg_block(i)
        sink.write_frame(EcgFrame(block.t0_ns, block.fs, block.samples_uv.astype(float)))
        if i and sink.state()[0] == "writing":
            print(f"ack {i - 1}", flush=True)
        sink.write_event("episode", "afib", block.t0_ns, None, {"i": i})
        i += 1


def fill_and_recover(log: Path, recipient: Recipient) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    writer = LogWriter(log, [recipient])
    for i in range(5):
        assert writer.append(ecg_block(i))
    print("acked 0-4", flush=True)
    sizes = [p.stat().st_size for p in log.parent.iterdir() if p.name.startswith(log.name)]
    resource.setrlimit(resource.RLIMIT_FSIZE, (max(sizes), hard))
    i = 5
    while writer.append(ecg_block(i)):
        i += 1
        if i > 5000:
            raise SystemExit("the size limit never bit")
    first_held = i
    for k in range(i + 1, i + 10):  # keep recording while the disk is full
        assert not writer.append(ecg_block(k))
    status = writer.status
    print(f"full at {first_held} pending {status.pending} error {status.last_error}", flush=True)
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))  # space returns
    assert writer.append(ecg_block(i + 10))
    assert writer.status.pending == 0 and writer.status.last_error is None
    writer.close()
    print(f"resumed total {i + 11}", flush=True)


if __name__ == "__main__":
    mode, log_arg, key = sys.argv[1:4]
    target = Recipient.parse(key)
    if mode in ("kill", "kill-nosync"):
        run_until_killed(Path(log_arg), target, durable=mode == "kill")
    elif mode == "sink":
        run_sink_until_killed(Path(log_arg), target)
    else:
        fill_and_recover(Path(log_arg), target)
