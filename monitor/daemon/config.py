"""Daemon configuration: a TOML file in the platformdirs config dir, overridden by the CLI.

A patient sets the strap and the clinician's public key once in
`<config dir>/config.toml` (`ecgmon config` shows where, and what is in effect);
every key can also be given on the command line, which wins.
"""

from __future__ import annotations

import os
import tempfile
import tomllib
import warnings
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import platformdirs

from monitor.errors import InputError

APP = "ecgmon"


def config_dir() -> Path:
    """$ECGMON_CONFIG_DIR, else the platformdirs config dir (shared with monitor.store)."""
    env = os.environ.get("ECGMON_CONFIG_DIR")
    return Path(env) if env else Path(platformdirs.user_config_dir(APP))


def data_dir() -> Path:
    """$ECGMON_DATA_DIR, else the platformdirs data dir (where the log lives)."""
    env = os.environ.get("ECGMON_DATA_DIR")
    return Path(env) if env else Path(platformdirs.user_data_dir(APP))


def config_path() -> Path:
    """`$ECGMON_CONFIG` if set, else <config dir>/config.toml."""
    env = os.environ.get("ECGMON_CONFIG")
    if env:
        return Path(env)
    return config_dir() / "config.toml"


def runtime_dir() -> Path:
    """The user's runtime dir for the socket (XDG_RUNTIME_DIR/ecgmon on Linux).

    Falls back to a private folder under the temp dir when the runtime dir is not
    available (e.g. no login session), never to anywhere other users can write into.
    """
    if os.environ.get("XDG_RUNTIME_DIR") or os.name != "posix":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when it falls back
            candidate = Path(platformdirs.user_runtime_dir(APP))
        if candidate.parent.is_dir() and os.access(candidate.parent, os.W_OK):
            return candidate
    return Path(tempfile.gettempdir()) / f"{APP}-{os.getuid()}"


def default_socket_path() -> Path:
    return runtime_dir() / "ecgmon.sock"


def default_log() -> Path:
    return data_dir() / "ecgmon-log.sqlite"


def default_recipients_file() -> Path:
    """The list `ecgmon keys` keeps of the public keys the log is encrypted to."""
    return config_dir() / "recipients.json"


def default_identity() -> Path:
    """The patient's identity file (opened only to read the log, with its passphrase)."""
    return config_dir() / "patient.key"


@dataclass(frozen=True)
class DaemonConfig:
    """Every setting of the daemon (all of them can come from file or CLI)."""

    strap: str | None = None
    """Strap address or name (e.g. "Polar H10 1A2B3C4D"); unused when replaying."""
    replay: Path | None = None
    """Replay this recording instead of a strap."""
    replay_fs: float | None = None
    """Sample rate of a CSV replay (default 130 Hz)."""
    speed: float = 1.0
    """Replay speed factor (1 = real time)."""
    loop: bool = False
    """Replay the recording over and over."""
    direct: bool = False
    """Replay without the virtual strap (frames paced directly; for fast batch replays)."""
    socket: Path = field(default_factory=default_socket_path)
    log: Path = field(default_factory=default_log)
    """The encrypted log file."""
    recipients_file: Path = field(default_factory=default_recipients_file)
    """Public keys the log is encrypted to (managed with `ecgmon keys`); the daemon
    needs no secret key."""
    identity: Path = field(default_factory=default_identity)
    """The patient's identity file, for the TUI's history screen (asks its passphrase)."""
    stale_after_s: float = 5.0
    """No sample for this long (wall clock) raises the stale-data alert."""
    client_queue: int = 512
    """Messages buffered per client before a slow client is dropped."""
    status_interval_s: float = 1.0
    live_interval_s: float = 0.1
    """A replay faster than real time pushes live samples and beats at most this often
    (a strap or a real-time replay pushes each notification as soon as it is processed)."""

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = [str(v) for v in value]
            out[f.name] = value
        return out


_PATH_KEYS = {"replay", "socket", "log", "recipients_file", "identity"}


def load_config(path: Path | None = None, overrides: dict[str, Any] | None = None) -> DaemonConfig:
    """The config file (if it exists) with the non-None `overrides` applied on top."""
    path = path or config_path()
    values: dict[str, Any] = {}
    if path.is_file():
        try:
            raw = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise InputError(f"{path}: cannot read the config file ({exc})") from exc
        values.update(raw.get("daemon", raw))
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    known = {f.name for f in fields(DaemonConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise InputError(f"{path}: unknown setting(s) {', '.join(unknown)}")
    converted: dict[str, Any] = {}
    for key, value in values.items():
        if key in _PATH_KEYS:
            value = Path(value).expanduser()
        converted[key] = value
    try:
        config = replace(DaemonConfig(), **converted)
    except TypeError as exc:
        raise InputError(f"{path}: {exc}") from exc
    if not config.speed > 0:
        raise InputError(f"speed must be positive, not {config.speed}")
    for key in ("stale_after_s", "status_interval_s", "live_interval_s", "client_queue"):
        value = getattr(config, key)
        if not isinstance(value, int | float) or not value > 0:
            raise InputError(f"{key} must be a positive number, not {value!r}")
    return config


def render_toml(config: DaemonConfig) -> str:
    """The config as a TOML file (what `ecgmon config --init` writes)."""
    lines = [
        "# ecgmon daemon settings; every key can also be given on the command line.",
        "[daemon]",
    ]
    for key, value in config.describe().items():
        if value is None:
            lines.append(f"# {key} = ")
        elif isinstance(value, bool):
            lines.append(f"{key} = {'true' if value else 'false'}")
        elif isinstance(value, int | float):
            lines.append(f"{key} = {value}")
        elif isinstance(value, list):
            lines.append(f"{key} = [{', '.join(_quote(v) for v in value)}]")
        else:
            lines.append(f"{key} = {_quote(str(value))}")
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
