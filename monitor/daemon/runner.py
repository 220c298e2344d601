"""Building a daemon from its config, and running it until SIGINT/SIGTERM.

This is where the parts are chosen: the source (strap or replay), the pipeline's
stages (whichever are installed) and the log writer. Each choice that falls back to
a stand-in is reported in the daemon's status (`stages`, `source`, `storage`).
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import functools
import os
import signal
import sys
import threading
from typing import Any

from monitor.daemon.config import DaemonConfig
from monitor.daemon.service import Daemon
from monitor.daemon.sources import ReplaySource, Source
from monitor.errors import EcgmonError, InputError
from monitor.pipeline import Pipeline
from monitor.signal import WORKING_FS


def build_source(config: DaemonConfig) -> Source:
    """The strap (real radio, or the virtual strap for a replay) when monitor.ble is
    installed; otherwise a replay paced directly (and saying so in its description)."""
    strap = _strap_module()
    if config.replay is not None:
        if strap is not None and not config.direct:
            return strap.StrapSource.virtual(
                config.replay, speed=config.speed, fs=config.replay_fs, loop=config.loop
            )
        return ReplaySource(
            config.replay, speed=config.speed, fs=config.replay_fs, loop=config.loop
        )
    if config.strap:
        if strap is None:
            raise InputError(
                "streaming from a BLE strap needs monitor.ble, which this build "
                "lacks; use --replay FILE"
            )
        return strap.StrapSource.radio(config.strap)
    raise InputError("no source: give a strap (--strap ADDRESS_OR_NAME) or --replay FILE")


def _strap_module() -> Any:
    try:
        import monitor.ble.session
        import monitor.ble.virtual  # noqa: F401
    except ImportError:
        return None
    from monitor.daemon import strap

    return strap


def build_pipeline() -> tuple[Pipeline, list[str]]:
    """The pipeline with every stage this installation has, and why any is missing."""
    problems: list[str] = []
    classifier: Any = None
    rhythm: Any = None
    try:
        from monitor.classify.classifier import BeatClassifier
        from monitor.classify.model import BeatModel

        # The model is loaded once; each stretch between gaps gets a fresh classifier.
        classifier = functools.partial(BeatClassifier, BeatModel(), WORKING_FS)
    except ImportError:
        problems.append("classifier: not in this build")
    except EcgmonError as exc:  # e.g. the model file is missing
        problems.append(f"classifier: {exc}")
    try:
        from monitor.classify.rhythm_stage import RhythmStage

        rhythm = RhythmStage(WORKING_FS)
    except ImportError:
        problems.append("rhythm: not in this build (no quality, VF, rhythm or alerts)")
    except EcgmonError as exc:
        problems.append(f"rhythm: {exc}")
    return Pipeline(classifier=classifier, rhythm=rhythm), problems


def build_sink(
    config: DaemonConfig, daemon_t0: Any, recipients: list[Any] | None = None
) -> tuple[Any, str]:
    """The encrypted log writer, or None and the reason the log is not written.

    recipients: public keys to use instead of the recipients file (the demo's)."""
    try:
        from monitor.store.recipients import load_recipients
    except ImportError:
        return None, "the encrypted log (monitor.store) is not in this build"
    from monitor.daemon.storage import EncryptedLogSink

    reload = None
    if recipients is None:
        recipients = load_recipients(config.recipients_file)

        def reload() -> list[Any]:
            return load_recipients(config.recipients_file)

    if not recipients:
        return None, (
            f"no recipients in {config.recipients_file}: run `ecgmon keys init` "
            "(the log is not written)"
        )
    try:
        return EncryptedLogSink.open(config.log, recipients, daemon_t0, reload), ""
    except (OSError, EcgmonError) as exc:
        # A read-only or missing data folder, a log held by another writer: the live
        # view keeps running and the status says why nothing is stored.
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return None, f"cannot open the encrypted log {config.log}: {reason}"


def build_daemon(config: DaemonConfig, recipients: list[Any] | None = None) -> Daemon:
    """A daemon with the best source, stages and log this installation has."""
    pipeline, problems = build_pipeline()
    daemon = Daemon(config, build_source(config), pipeline, stage_problems=problems)
    sink, why = build_sink(config, lambda: daemon.stream_t0_ns, recipients)
    daemon.attach_sink(sink, why)
    return daemon


def temporary_identity() -> Any:
    """A fresh patient identity held in memory only (the demo's), or None without the store."""
    try:
        from monitor.store.keys import Identity
    except ImportError:
        return None
    return Identity.generate(role="patient", label="ecgmon demo (temporary)")


STOP_DEADLINE_S = 15.0
"""After SIGINT/SIGTERM the process exits within this long, whatever happens: every wait
in the daemon's shutdown is bounded, and this is the last resort against one that is
not (a wedged BLE stack, a C extension that never returns): stacks are dumped to
stderr and the process exits with status 3. The encrypted log survives even that
(every record is committed when written)."""

EXIT_STUCK = 3


async def run_until_signalled(daemon: Daemon, deadline_s: float = STOP_DEADLINE_S) -> None:
    """Run `daemon`; SIGINT and SIGTERM make it stop cleanly, and within `deadline_s`."""
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    deadline: list[threading.Timer] = []

    def stop() -> None:
        daemon.stop()
        if not deadline:
            timer = threading.Timer(deadline_s, _hard_exit, (deadline_s,))
            timer.daemon = True
            timer.start()
            deadline.append(timer)

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop)
            installed.append(sig)
    try:
        await daemon.run()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        for timer in deadline:
            timer.cancel()


def _hard_exit(deadline_s: float) -> None:
    print(
        f"ecgmon daemon: did not stop within {deadline_s:.0f} s of the signal; "
        "exiting (stacks follow)",
        file=sys.stderr,
        flush=True,
    )
    faulthandler.dump_traceback(all_threads=True)
    os._exit(EXIT_STUCK)
