"""Where ecgmon keeps its configuration (public keys only) and its log.

Both come from platformdirs, and both can be moved with an environment variable
(ECGMON_CONFIG_DIR, ECGMON_LOG_DIR) or an explicit argument, so tests and
scripts never touch the user's real folders.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "ecgmon"
LOG_FILENAME = "ecgmon-log.sqlite"
IDENTITY_FILENAME = "patient.key"
RECIPIENTS_FILENAME = "recipients.json"


def config_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The configuration folder: argument, else $ECGMON_CONFIG_DIR, else platformdirs."""
    if override is not None:
        return Path(override)
    env = os.environ.get("ECGMON_CONFIG_DIR")
    if env:
        return Path(env)
    return Path(platformdirs.user_config_dir(APP_NAME))


def data_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The data folder holding the log: argument, else $ECGMON_LOG_DIR, else platformdirs."""
    if override is not None:
        return Path(override)
    env = os.environ.get("ECGMON_LOG_DIR")
    if env:
        return Path(env)
    return Path(platformdirs.user_data_dir(APP_NAME))


def default_log_path() -> Path:
    return data_dir() / LOG_FILENAME


def default_identity_path() -> Path:
    return config_dir() / IDENTITY_FILENAME


def recipients_path() -> Path:
    return config_dir() / RECIPIENTS_FILENAME
