"""`StrapSession.close()` ends the session's supervisor, but must not swallow a
cancellation aimed at its caller: a daemon that is told to stop while it closes the
strap has to stop (the cause of a SIGTERM hang the daemon benchmark once met)."""

from __future__ import annotations

import asyncio

from monitor.ble.session import SessionConfig, StrapSession


async def _slow_to_die() -> None:
    """A supervisor that takes a moment to wind down once cancelled."""
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        await asyncio.sleep(0.2)
        raise


async def test_close_passes_on_a_cancellation_of_its_caller() -> None:
    session = StrapSession(SessionConfig(scan_timeout_s=3.0))
    session._task = asyncio.create_task(_slow_to_die())
    await asyncio.sleep(0)
    closer = asyncio.create_task(session.close())
    await asyncio.sleep(0.05)  # close() is now waiting for the supervisor
    closer.cancel()
    await asyncio.gather(closer, return_exceptions=True)
    assert closer.cancelled()


async def test_close_itself_is_not_cancelled_by_ending_the_supervisor() -> None:
    session = StrapSession(SessionConfig(scan_timeout_s=3.0))
    session._task = asyncio.create_task(_slow_to_die())
    await asyncio.sleep(0)
    await session.close()  # returns normally: the supervisor's cancellation stays inside
    assert session._task.done()
