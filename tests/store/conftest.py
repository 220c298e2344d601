"""Fixtures for the encrypted-log tests: private config/data dirs, fast identities."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from monitor.classify.beat import ClassifiedBeat
from monitor.store import BeatBatch, EcgBlock, Event, Identity, LogWriter, Payload

T0 = 1_764_057_600_000_000_000  # 2025-11-25T08:00:00Z


@pytest.fixture(autouse=True)
def store_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own config and data folders, and cheap scrypt for new files."""
    monkeypatch.setenv("ECGMON_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("ECGMON_LOG_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ECGMON_SCRYPT_LOG_N", "10")
    monkeypatch.delenv("ECGMON_PASSPHRASE", raising=False)
    yield tmp_path


@pytest.fixture
def patient() -> Identity:
    return Identity.generate("patient", "patient")


@pytest.fixture
def clinician() -> Identity:
    return Identity.generate("clinician", "Dr X")


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "log.sqlite"


def ecg_block(i: int, n: int = 1300, fs: float = 130.0, seed: int = 0) -> EcgBlock:
    rng = np.random.default_rng(seed + i)
    samples = np.cumsum(rng.integers(-40, 41, n)).astype(np.int16)
    return EcgBlock(T0 + round(i * n * 1e9 / fs), fs, samples)


def beat_batch(i: int, fs: float = 130.0) -> BeatBatch:
    beats = tuple(
        ClassifiedBeat(index=i * 1300 + k * 100, time_s=(i * 1300 + k * 100) / fs,
                       label="NSV"[k % 3], confidence=0.5 + k / 40,
                       rr_before_s=100 / fs if k else None, rr_after_s=100 / fs,
                       noisy=k == 5)
        for k in range(12)
    )
    return BeatBatch(T0, fs, beats)


def sample_payloads(n_blocks: int) -> list[Payload]:
    out: list[Payload] = []
    for i in range(n_blocks):
        out.append(ecg_block(i))
        out.append(beat_batch(i))
        if i % 7 == 3:
            out.append(Event("episode", "afib", T0 + i * 10**10, T0 + i * 10**10 + 5 * 10**9,
                             {"mean_hr": 131.5, "beats": 14}))
        if i % 11 == 5:
            out.append(Event("device", "disconnected", T0 + i * 10**10, None, {"rssi": -80}))
    return out


def write_log(path: Path, recipients: list[Identity], payloads: Sequence[Payload],
              rotate_every: int = 0) -> None:
    with LogWriter(path, [r.recipient for r in recipients]) as writer:
        for k, payload in enumerate(payloads):
            if rotate_every and k and k % rotate_every == 0:
                writer.rotate()
            assert writer.append(payload)
