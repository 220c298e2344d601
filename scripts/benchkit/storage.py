"""Log writes and storage: the store's own measurement, run on the same MIT-BIH day.

`monitor.store.bench.measure_store` writes the day the way the daemon does (10 s ECG
blocks with their beat batches, each committed; hourly summaries; hourly segments on a
simulated clock) into a fresh encrypted log, and measures its size and CPU time. It
lives in the store package so the store's own tests and this report measure the same
thing; this section only runs it with repeats and reports it.
"""

from __future__ import annotations

from pathlib import Path

from benchkit.report import Section, Status, table
from benchkit.timing import Stats


def storage_section(
    folder: Path, hours: float | None, repeats: int, facts: dict[str, str]
) -> Section:
    from monitor.store.bench import measure_store, mitdb_day

    day = mitdb_day(folder)
    runs = [measure_store(day, hours=hours) for _ in range(repeats)]
    first = runs[0]

    def stats(attr: str, scale: float = 1.0) -> Stats:
        return Stats(tuple(float(getattr(r, attr)) * scale for r in runs))

    per_day = stats("bytes_per_24h", 1e-6)
    facts["storage"] = f"{per_day.median:.1f} MB per 24 h (store benchmark)" + (
        f"; {facts['storage']}" if "storage" in facts else ""
    )
    facts["log_mb_s"] = stats("writer_mb_per_s").fmt(1, " MB/s")
    body = [
        f"Source: {first.source}, {first.hours:.2f} h, {first.beats:,} beats, written as "
        f"{first.records:,} log records by `monitor.store.bench.measure_store`; median "
        "(min-max) over the repeats. MB/s is raw ECG payload (int16 samples) per CPU second.",
        "",
        *table(
            ["measure", "value"],
            [
                ["log on disk, MB", stats("log_bytes", 1e-6).fmt(2)],
                ["bytes on disk per 24 h of monitoring, MB", per_day.fmt(2)],
                [
                    "writer, one commit per record (as the daemon), MB/s",
                    stats("writer_mb_per_s").fmt(1),
                ],
                ["writer, CPU s for the whole write", stats("cpu_s").fmt(2)],
                ["writer, wall s (includes fsync)", stats("wall_s").fmt(2)],
                *(
                    [
                        [
                            "writer, each ECG block with its beats in one commit, MB/s",
                            stats("block_mb_per_s").fmt(1),
                        ]
                    ]
                    if hasattr(first, "block_mb_per_s")
                    else []
                ),
                ["writer committing an hour at a time, MB/s", stats("batch_mb_per_s").fmt(1)],
                ["encode + compress + pad + seal alone, MB/s", stats("seal_mb_per_s").fmt(1)],
            ],
            "lr",
        ),
    ]
    return Section("Log writes and storage", Status.MEASURED, body)
