"""The virtual strap's heart-rate notifications: computed as they are sent (finding B2).

The reference is the whole-recording computation the strap used to make up front (one
`detect_qrs` call, then every second's beats): the streamed track must send exactly its
bytes, while reading the source only a few seconds ahead and keeping only the last
seconds of beats, whatever the source's length.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from monitor.ble import hrs
from monitor.ble.hrtrack import HeartRateTrack
from monitor.ble.synthetic import synthetic_ecg
from monitor.ble.virtual import VirtualStrap
from monitor.recording import load_recording
from monitor.signal.qrs import detect_qrs
from monitor.signal.resample import resample_record

FS = 130.0


def reference(samples: np.ndarray, fs: float, peaks: np.ndarray | None) -> list[bytes]:
    """The up-front computation the virtual strap made before (kept as the specification)."""
    if len(samples) < 2 * fs:
        return []
    if peaks is None:
        peaks = detect_qrs(samples.astype(np.float64), fs)
    times = peaks / fs
    out: list[bytes] = []
    last_bpm = 0
    for second in range(1, int(len(samples) / fs) + 1):
        window = times[(times > second - 1) & (times <= second)]
        idx = np.searchsorted(times, window)
        rr = [times[i] - times[i - 1] for i in idx if i > 0]
        recent = np.diff(times[(times > second - 8) & (times <= second)])
        bpm = round(60.0 / float(np.mean(recent))) if len(recent) else last_bpm
        last_bpm = bpm
        rr_1024 = tuple(max(1, min(0xFFFF, round(v * 1024))) for v in rr)
        out.append(hrs.encode_heart_rate(hrs.HeartRateMeasurement(min(bpm, 255), rr_1024=rr_1024)))
    return out


def streamed(track: HeartRateTrack) -> list[bytes]:
    return [payload for _, payload in track.from_second(1)]


def strap_samples(samples: np.ndarray) -> np.ndarray:
    return VirtualStrap(samples, FS).samples_uv


@pytest.mark.parametrize("given", [True, False], ids=["given peaks", "detected peaks"])
def test_the_streamed_track_sends_the_bytes_of_the_whole_recording_computation(
    given: bool,
) -> None:
    x, peaks = synthetic_ecg(300.0, FS, seed=4)
    samples = strap_samples(x)
    track = HeartRateTrack(samples, FS, peaks if given else None)
    assert streamed(track) == reference(samples, FS, peaks if given else None)


def test_a_pause_longer_than_the_rate_window_and_a_short_source() -> None:
    x, peaks = synthetic_ecg(60.0, FS, seed=2)
    keep = (peaks < 20 * FS) | (peaks > 35 * FS)  # 15 s without a beat: the rate holds
    samples = strap_samples(x)
    track = HeartRateTrack(samples, FS, peaks[keep])
    assert streamed(track) == reference(samples, FS, peaks[keep])
    assert streamed(HeartRateTrack(samples[:200], FS)) == []


@pytest.mark.data
@pytest.mark.parametrize("name", ["mitdb/208", "nstdb/118e00"])
def test_real_and_noisy_ecg_give_the_same_bytes(name: str, mitdb: Path, nstdb: Path) -> None:
    """Real arrhythmia (208: PVCs, couplets) and the noisiest stress record, where the
    detector waits longest (search-back): the look-ahead never misses a late beat."""
    folder = {"mitdb": mitdb, "nstdb": nstdb}[name.split("/")[0]]
    rec = load_recording(folder / name.split("/")[1])
    samples = strap_samples(resample_record(rec.samples_uv, rec.fs, FS)[: round(600 * FS)])
    assert streamed(HeartRateTrack(samples, FS)) == reference(samples, FS, None)
