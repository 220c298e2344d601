"""Streaming signal processing: filters, resampling, QRS detection (pure, synchronous)."""

WORKING_FS = 130.0
"""The rate the whole analysis runs at: what a Polar H10 delivers."""

MIN_FS = 100.0
MAX_FS = 1000.0
