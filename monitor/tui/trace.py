"""Drawing an ECG strip with braille dots at terminal resolution (pure functions).

Each character cell holds a 2x4 braille dot grid, so a 78x14 cell area is a 156x56
dot canvas. Every dot column covers a few samples; the column draws the span from
their minimum to their maximum, joined to the previous column, so a narrow QRS
spike is never lost between columns. The vertical scale follows the visible window
with a floor, so a flat line does not get amplified into noise.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BRAILLE_BASE = 0x2800
_DOT_BITS = np.array([[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]], dtype=np.int64)
"""_DOT_BITS[row][col]: the bit of the dot at that position within one braille cell."""

MIN_SPAN_UV = 800.0
"""The vertical scale never shows less than this range (about a normal QRS)."""


def braille_canvas(
    values: np.ndarray, width: int, height: int, span: tuple[float, float]
) -> list[str]:
    """`values` (one per dot column, NaN = nothing) drawn into `height` rows of `width` cells.

    values has shape (2*width, 2): min and max per dot column.
    """
    rows, cols = height * 4, width * 2
    lo_v, hi_v = span
    scale = (rows - 1) / max(hi_v - lo_v, 1e-9)
    env = np.full((cols, 2), np.nan)
    n = min(cols, values.shape[0])
    env[:n] = values[:n]
    valid = np.isfinite(env[:, 0])
    safe = np.where(valid[:, None], env, hi_v)
    top = np.clip(np.round((hi_v - safe[:, 1]) * scale), 0, rows - 1).astype(np.int64)
    bottom = np.clip(np.round((hi_v - safe[:, 0]) * scale), 0, rows - 1).astype(np.int64)
    # Join each column to the previous one so the line is continuous.
    joined_top, joined_bottom = top.copy(), bottom.copy()
    both = valid[1:] & valid[:-1]
    joined_top[1:][both] = np.minimum(top[1:], bottom[:-1])[both]
    joined_bottom[1:][both] = np.maximum(bottom[1:], top[:-1])[both]
    r = np.arange(rows)[:, None]
    grid = (r >= joined_top[None, :]) & (r <= joined_bottom[None, :]) & valid[None, :]
    cells = grid.reshape(height, 4, width, 2).transpose(0, 2, 1, 3)
    codes = (cells * _DOT_BITS[None, None]).sum(axis=(2, 3)) + BRAILLE_BASE
    return ["".join(map(chr, row)) for row in codes.tolist()]


def column_envelope(
    values: np.ndarray, start: int, first: int, per_column: float, columns: int
) -> np.ndarray:
    """Min/max of the samples falling into each of `columns` dot columns.

    Sample k (absolute index start + k) falls into column floor((start + k - first) / per_column).
    """
    out = np.full((columns, 2), np.nan)
    if values.size == 0:
        return out
    idx = np.arange(values.size) + start - first
    col = np.floor(idx / per_column).astype(np.int64)
    ok = (col >= 0) & (col < columns)
    if not ok.any():
        return out
    col, v = col[ok], values[ok]
    mins = np.full(columns, np.inf)
    maxs = np.full(columns, -np.inf)
    finite = np.isfinite(v)
    np.minimum.at(mins, col[finite], v[finite])
    np.maximum.at(maxs, col[finite], v[finite])
    seen = np.isfinite(mins)
    out[seen, 0] = mins[seen]
    out[seen, 1] = maxs[seen]
    return out


def visible_span(envelope: np.ndarray) -> tuple[float, float]:
    """Vertical range for the window: its extremes with a margin, at least MIN_SPAN_UV."""
    finite = envelope[np.isfinite(envelope[:, 0])]
    if finite.size == 0:
        return (-MIN_SPAN_UV / 2, MIN_SPAN_UV / 2)
    lo, hi = float(finite[:, 0].min()), float(finite[:, 1].max())
    centre, half = (lo + hi) / 2, max(hi - lo, MIN_SPAN_UV) / 2 * 1.08
    return (centre - half, centre + half)


def marker_row(
    beats: Sequence[tuple[int, str]], first: int, per_cell: float, width: int
) -> list[tuple[int, str]]:
    """(cell column, label) for each beat (trace-rate index, label) inside the window."""
    out: list[tuple[int, str]] = []
    for index, label in beats:
        cell = int((index - first) // per_cell)
        if 0 <= cell < width:
            out.append((cell, label))
    return out


def render_strip(
    values: np.ndarray,
    start: int,
    first: float,
    samples_shown: float,
    width: int,
    height: int,
    beats: Sequence[tuple[int, str]],
) -> tuple[list[str], list[tuple[int, str]]]:
    """Braille rows for the window [first, first + samples_shown) of a sampled signal,
    and the (cell, label) marks of the beats (sample index at the same rate, label).

    values[k] is sample start + k; NaN samples (gaps) are left blank.
    """
    per_column = samples_shown / (2 * width)
    env = column_envelope(values, start, int(first), per_column, 2 * width)
    rows = braille_canvas(env, width, height, visible_span(env))
    return rows, marker_row(beats, int(first), per_column * 2, width)
