"""A day-long looping replay through the virtual strap: it costs the same as a short one.

`ecgmon daemon --replay DAY --loop` once spent ~13 CPU s and ~1.1 GB before its first
frame (finding B2), because the virtual strap computed a whole day of heart-rate
notifications up front. No timing is asserted here: the tests check what the strap
holds and how far it has read, which is what the time and memory followed from.
"""

from __future__ import annotations

import numpy as np

from monitor.ble.synthetic import synthetic_ecg
from monitor.ble.virtual import VirtualStrap

from .conftest import Tally

FS = 130.0


def test_a_day_long_source_is_read_only_just_ahead_of_the_notifications(tally: Tally) -> None:
    """24 h of ECG: after the first minute of heart-rate notifications the strap's
    detector has read about a minute, and only the last seconds of beats are held, also
    across a reconnection. Regression for finding B2 (a day-long source was analysed
    whole before its first frame: seconds of CPU and over a gigabyte)."""
    tally.case()
    x, _ = synthetic_ecg(600.0, FS, seed=5)
    vstrap = VirtualStrap(np.tile(x, 144), FS)
    source = vstrap.source()
    track = source.hr_track
    assert track is not None and track.seconds == 86_400
    notifications = source.hr_from(0.0)
    sent = [next(notifications) for _ in range(60)]
    assert [due for due, _ in sent] == [float(s) for s in range(1, 61)]
    assert track.samples_analysed < 90 * FS
    for _ in range(600):
        next(notifications)
    assert track.samples_analysed < 700 * FS
    assert track.peaks_kept < 40  # the last ~20 s of beats, of the day's ~100,000
    # a reconnection 40 s later carries on where the track is: nothing is recomputed
    later = source.hr_from(700.4)
    assert next(later)[0] == 701.0 and track.samples_analysed < 760 * FS


def test_a_looping_replay_shares_the_recording_instead_of_copying_it(tally: Tally) -> None:
    """The daemon loops a replay by switching to a fresh strap on the same samples: the
    fresh strap holds the very same array (one copy of a day, not one per pass) and
    sends the same bytes. Regression for finding B2 (part of its memory)."""
    tally.case()
    x, _ = synthetic_ecg(30.0, FS, seed=6)
    first = VirtualStrap(x, FS)
    again = VirtualStrap(first.samples_uv, first.fs)
    assert again.samples_uv is first.samples_uv
    a, b = first.source(), again.source()
    assert [a.frame_payload(k) for k in range(a.frame_count)] == [
        b.frame_payload(k) for k in range(b.frame_count)
    ]
    assert list(a.hr_from(0.0)) == list(b.hr_from(0.0))
