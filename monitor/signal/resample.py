"""Resampling to the working rate, whole-record and streaming.

The analysis runs at the strap's 130 Hz whatever the source, so a 360 Hz MIT-BIH
record is analysed as the strap would deliver it. Both paths use the same
polyphase anti-aliasing FIR (the design scipy.signal.resample_poly uses), so a
stream resampled chunk by chunk matches the whole-record result.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from scipy import signal


def rational_ratio(fs_in: float, fs_out: float, max_denominator: int = 1000) -> tuple[int, int]:
    """(up, down) with fs_out / fs_in ~= up / down, reduced."""
    ratio = Fraction(fs_out / fs_in).limit_denominator(max_denominator)
    return ratio.numerator, ratio.denominator


def _design(up: int, down: int) -> np.ndarray:
    """The anti-aliasing FIR scipy.signal.resample_poly designs for (up, down)."""
    max_rate = max(up, down)
    half_len = 10 * max_rate
    h = signal.firwin(2 * half_len + 1, 1.0 / max_rate, window=("kaiser", 5.0))
    return np.asarray(h * up)


def resample_record(samples: np.ndarray, fs_in: float, fs_out: float) -> np.ndarray:
    """Resample a whole recording with scipy's zero-phase polyphase resampler."""
    x = np.asarray(samples, dtype=np.float64)
    if fs_in == fs_out:
        return x.copy()
    up, down = rational_ratio(fs_in, fs_out)
    return np.asarray(signal.resample_poly(x, up, down))


class StreamingResampler:
    """Chunk-by-chunk polyphase resampler with a fixed delay.

    Output sample m is the filtered, upsampled signal at upsampled index
    m * down, exactly as in resample_poly but causal: it is emitted once every
    input it depends on has arrived, so the output lags by half the FIR length
    (`delay_s`, in input time). Chunking never changes the result.
    """

    def __init__(self, fs_in: float, fs_out: float) -> None:
        self.fs_in = float(fs_in)
        self.fs_out = float(fs_out)
        self.up, self.down = rational_ratio(self.fs_in, self.fs_out)
        self._h = _design(self.up, self.down)
        self._half = (len(self._h) - 1) // 2
        # Polyphase: for output at upsampled index n, taps h[k] with (n - k) % up == 0.
        self._buffer = np.zeros(0)
        self._buffer_start = 0  # input index of _buffer[0]
        self._n_in = 0
        self._next_out = 0  # index of the next output sample, in output samples
        # The zero-phase reference centres the filter: output m uses upsampled index
        # m*down + half; prepend virtual zeros so the first outputs see a rest state.

    @property
    def delay_s(self) -> float:
        """How far the output lags behind the input, in seconds."""
        return (self._half / self.up) / self.fs_in

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """Feed input samples; return every output sample that is now complete."""
        x = np.asarray(chunk, dtype=np.float64)
        if x.size:
            self._buffer = np.concatenate([self._buffer, x])
            self._n_in += x.size
        return self._emit(final=False)

    def flush(self) -> np.ndarray:
        """Emit the tail, treating the input after the end as zeros (as resample_poly does)."""
        return self._emit(final=True)

    def _emit(self, final: bool) -> np.ndarray:
        up, down, h, half = self.up, self.down, self._h, self._half
        n_taps = len(h)
        # Output m needs upsampled indices c - half .. c + half with c = m*down,
        # i.e. input indices up to floor((c + half) / up).
        if final:
            total_out = -(-self._n_in * up // down)  # ceil(n_in * up / down)
            last_needed_limit = None
        else:
            total_out = None
            last_needed_limit = self._n_in - 1
        outputs: list[float] = []
        m = self._next_out
        while True:
            if total_out is not None and m >= total_out:
                break
            c = m * down
            hi_in = (c + half) // up
            if last_needed_limit is not None and hi_in > last_needed_limit:
                break
            lo_up = c - half
            lo_in = -(-lo_up // up) if lo_up > 0 else 0
            acc = 0.0
            idx = np.arange(lo_in, min(hi_in, self._n_in - 1) + 1)
            if idx.size:
                taps = c + half - idx * up  # h index: h[k] multiplies x_up[c + half - k]
                valid = (taps >= 0) & (taps < n_taps)
                vals = self._buffer[idx[valid] - self._buffer_start]
                acc = float(np.dot(h[taps[valid]], vals))
            outputs.append(acc)
            m += 1
        self._next_out = m
        # Drop input no longer needed by the next output.
        keep_from = max(0, -(-(m * down - half) // up) - 1)
        drop = keep_from - self._buffer_start
        if drop > 0:
            self._buffer = self._buffer[drop:]
            self._buffer_start = keep_from
        return np.asarray(outputs)
