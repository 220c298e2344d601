"""Capture files: what a strap sent, byte for byte, as JSON lines.

`ecgmon record --out FILE` writes one; `VirtualStrap.from_capture(FILE)` replays
its notifications bit for bit. Line 1 is a header, every other line one GATT
event with the host receive time:

    {"format": "ecgmon-capture", "version": 1, "device": {"name": ..., "address": ...},
     "started_ns": 1764075000000000000}
    {"t_ns": 1764075000123456789, "char": "fb005c82-...", "kind": "notify", "hex": "00aa9a..."}

kind is "notify" (notification or indication from the strap), "read" (a value
the host read) or "write" (what the host wrote, kept for context). Each line is
flushed as it is written, so an interrupted recording keeps everything before
the interruption.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from monitor.errors import InputError

FORMAT = "ecgmon-capture"
VERSION = 1
KINDS = ("notify", "read", "write")


@dataclass(frozen=True)
class CaptureRecord:
    t_ns: int
    char: str
    kind: str
    data: bytes


@dataclass(frozen=True)
class Capture:
    header: dict[str, Any]
    records: tuple[CaptureRecord, ...]

    @property
    def device_name(self) -> str:
        device = self.header.get("device") or {}
        return str(device.get("name") or "")

    def notifications(self, char: str) -> list[CaptureRecord]:
        """Everything the strap sent on one characteristic, in order."""
        return [r for r in self.records if r.char == char and r.kind == "notify"]


class CaptureWriter:
    """Append-only writer; use as a context manager."""

    def __init__(self, path: Path, device_name: str, address: str, started_ns: int) -> None:
        try:
            self._file: IO[str] = path.open("x", encoding="utf-8")
        except FileExistsError:
            raise InputError(f"{path} already exists; choose another --out") from None
        except OSError as exc:
            raise InputError(f"cannot create {path}: {exc.strerror}") from exc
        self.path = path
        self.count = 0
        header = {"format": FORMAT, "version": VERSION,
                  "device": {"name": device_name, "address": address}, "started_ns": started_ns}
        self._line(header)

    def _line(self, obj: dict[str, Any]) -> None:
        self._file.write(json.dumps(obj, separators=(",", ":")) + "\n")
        self._file.flush()

    def write(self, char: str, kind: str, data: bytes, t_ns: int) -> None:
        self._line({"t_ns": t_ns, "char": char, "kind": kind, "hex": data.hex()})
        self.count += 1

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _records(lines: Iterator[tuple[int, str]], path: Path) -> Iterator[CaptureRecord]:
    for number, line in lines:
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            record = CaptureRecord(int(obj["t_ns"]), str(obj["char"]).lower(), str(obj["kind"]),
                                   bytes.fromhex(obj["hex"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{path}:{number}: not a capture record ({exc})") from None
        if record.kind not in KINDS:
            raise InputError(f"{path}:{number}: unknown record kind {record.kind!r}")
        yield record


def read_capture(path: Path | str) -> Capture:
    """Load a capture; a missing file or a malformed line is a one-line InputError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read capture {path}: {exc.strerror}") from exc
    except UnicodeDecodeError:
        raise InputError(f"{path} is not a capture file (not UTF-8 text)") from None
    lines = text.splitlines()
    try:
        header = json.loads(lines[0]) if lines else None
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise InputError(f"{path} is not an ecgmon capture (no '{FORMAT}' header line)")
    if header.get("version") != VERSION:
        raise InputError(f"{path}: capture version {header.get('version')} is not supported")
    records = tuple(_records(enumerate(lines[1:], start=2), path))
    return Capture(header, records)
