"""The measuring function scripts/bench_store.py and scripts/bench.py call (no speed asserted)."""

from __future__ import annotations

from pathlib import Path

from monitor.store.bench import measure_store, synthetic_day


def test_measure_store_counts_what_it_wrote(tmp_path: Path) -> None:
    day = synthetic_day(hours=0.1)
    result = measure_store(day, hours=0.05, directory=tmp_path)
    assert result.ecg_samples == round(0.05 * 3600 * 130)
    assert result.ecg_payload_bytes == 2 * result.ecg_samples  # int16 samples
    # ECG blocks + beat batches of 10 s each: 18 of each in 3 minutes
    assert result.records == 36
    assert result.log_bytes > 0 and result.bytes_per_24h == result.log_bytes * 24 / 0.05
    assert "MB per 24 h" in result.render()
    assert list(tmp_path.iterdir()) == []  # temporary logs removed


def test_size_breakdown_adds_up(tmp_path: Path) -> None:
    result = measure_store(synthetic_day(hours=0.1), hours=0.05, directory=tmp_path)
    assert set(result.stored_by_type) == {"ecg", "beats"}
    assert 0 < result.record_bytes < result.log_bytes
    assert result.sqlite_overhead_bytes == result.log_bytes - result.record_bytes
    # buckets pad each record by less than 1/8 of its size (or up to the 64-byte minimum)
    assert 0 < result.padding_bytes < result.record_bytes / 8
    assert 0 < result.difference_entropy_bits < result.ecg_body_bits < 16


def test_the_v1_comparison_writes_what_v1_readers_read() -> None:
    """The bench's version 1 coding is the real v1 layout: the v1 decoding path reads it."""
    import zlib

    from monitor.store.bench import _encode_ecg_v1, compare_ecg_codings
    from monitor.store.records import EcgBlock, decode_ecg

    day = synthetic_day(hours=0.01)
    block = EcgBlock(123, 130.0, day.samples_uv[:1300])
    body = _encode_ecg_v1(block)
    assert decode_ecg(zlib.decompress(body), version=1) == block
    us, bits = compare_ecg_codings([block])
    assert set(us) == set(bits) == {"v1", "v2"}
    assert 0 < bits["v2"] < 16 and 0 < bits["v1"] < 16
