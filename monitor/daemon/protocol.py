"""The local socket protocol: newline-delimited, versioned JSON (see docs/PROTOCOL.md).

Every message is one JSON object on one line with `"v"` (the protocol version) and
`"type"`. The daemon and every client (the TUI, `ecgmon demo --headless`, tests) use
these functions, so the wire format lives in one place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from monitor.classify.beat import ClassifiedBeat

PROTOCOL_VERSION = 1
MAX_LINE_BYTES = 1 << 20
"""A longer line from a peer is a protocol error (protects the daemon's memory)."""

TRACE_DECIMATION = 2
"""Live samples go out at working rate / 2 (65 Hz): plenty for a terminal-width trace,
and each kept sample is the larger of its pair so no R-peak is flattened."""


class ProtocolError(ValueError):
    """A line that is not a valid message of this protocol version."""


def encode(msg_type: str, /, **fields: Any) -> bytes:
    """One message as a line of UTF-8 JSON."""
    body = {"v": PROTOCOL_VERSION, "type": msg_type, **fields}
    return (json.dumps(body, separators=(",", ":"), allow_nan=False) + "\n").encode()


def decode(line: bytes | str) -> dict[str, Any]:
    """Parse one line; raise ProtocolError unless it is a message of our version."""
    try:
        msg = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"not JSON: {exc}") from exc
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        raise ProtocolError("not a message object with a 'type'")
    if msg.get("v") != PROTOCOL_VERSION:
        raise ProtocolError(f"unsupported protocol version {msg.get('v')!r}")
    return msg


def beat_to_wire(beat: ClassifiedBeat) -> dict[str, Any]:
    return {
        "i": beat.index,
        "t": round(beat.time_s, 3),
        "label": beat.label,
        "conf": round(beat.confidence, 3),
        "rr_before": None if beat.rr_before_s is None else round(beat.rr_before_s, 3),
        "rr_after": None if beat.rr_after_s is None else round(beat.rr_after_s, 3),
        "noisy": beat.noisy,
    }


@dataclass
class Decimator:
    """Peak-preserving decimation by `factor`, exact across frame boundaries.

    Output sample j stands for working-rate samples [j*factor, (j+1)*factor): the one
    with the largest magnitude among them.
    """

    factor: int = TRACE_DECIMATION

    def __post_init__(self) -> None:
        self._carry = np.empty(0)
        self._next = 0  # output index of the next sample emitted

    def restart(self, at: int) -> None:
        """The input jumps (a gap): drop the carry; the next output has index `at`."""
        self._carry = np.empty(0)
        self._next = max(self._next, at)

    def process(self, x: np.ndarray) -> tuple[int, np.ndarray]:
        """Return (output index of the first value, values)."""
        buf = np.concatenate([self._carry, np.asarray(x, dtype=np.float64)])
        whole = buf.size // self.factor * self.factor
        self._carry = buf[whole:]
        blocks = buf[:whole].reshape(-1, self.factor)
        pick = np.argmax(np.abs(blocks), axis=1) if blocks.size else np.empty(0, dtype=np.int64)
        values = blocks[np.arange(blocks.shape[0]), pick] if blocks.size else np.empty(0)
        start = self._next
        self._next += values.size
        return start, values
