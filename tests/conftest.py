"""Shared fixtures: where the real ECG databases are, and skipping cleanly without them."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.evaluation import default_data_dir

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "fixtures"


def _database(name: str, probe: str) -> Path:
    folder = default_data_dir() / name
    if not (folder / probe).is_file():
        pytest.skip(f"needs the PhysioNet database {name} in {folder} (not present)")
    pytest.importorskip("wfdb", reason="needs the wfdb extra to read PhysioNet records")
    return folder


@pytest.fixture(scope="session")
def mitdb() -> Path:
    """../shared/data/mitdb, or skip."""
    return _database("mitdb", "100.hea")


@pytest.fixture(scope="session")
def nstdb() -> Path:
    """../shared/data/nstdb, or skip."""
    return _database("nstdb", "118e24.hea")


@pytest.fixture(scope="session")
def cudb() -> Path:
    """../shared/data/cudb, or skip."""
    return _database("cudb", "cu01.hea")
