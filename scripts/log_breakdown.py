"""Where the bytes of the real pipeline's encrypted log go, by record type.

    python scripts/log_breakdown.py                       # the 48 MIT-BIH records (24.1 h)
    python scripts/log_breakdown.py --records 100 119     # a subset
    python scripts/log_breakdown.py --frame-s 0.5616      # live-sized (73-sample) frames
    python scripts/log_breakdown.py --no-fsync-episodes   # the sink's fsync_episodes=False

scripts/bench_store.py writes reference beats in 10 s blocks; this runs what the
end-to-end benchmark (scripts/bench.py) runs instead: the daemon's pipeline
(benchkit.chain.build_chain) feeding `EncryptedLogSink` over `LogWriter`, frames of
--frame-s seconds (60, as the replay), then decrypts the log and sums each record's
stored size (the SQLite cell's body) by type, next to the file size and the SQLite
pages' unused space. It also prints the CPU time of the log stage (the sink's calls,
timed as scripts/bench.py times its "encrypted log" row).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchkit import chain as chain_mod
from benchkit.corpus import MITDB_RECORDS, WORKING_FS, load_corpus, mitdb_dir

from monitor.evaluation import default_data_dir
from monitor.store import Identity, LogReader

T0_NS = 1_764_057_600_000_000_000


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data-dir", type=Path, default=default_data_dir())
    p.add_argument("--records", nargs="*", default=None, help="MIT-BIH records (default all)")
    p.add_argument("--frame-s", type=float, default=60.0, help="seconds per frame fed (60)")
    p.add_argument(
        "--no-fsync-episodes",
        action="store_true",
        help="commit episodes without an fsync (EncryptedLogSink(fsync_episodes=False))",
    )
    args = p.parse_args()
    folder = mitdb_dir(args.data_dir)
    if folder is None:
        sys.exit(f"no MIT-BIH records under {args.data_dir}")
    corpus = load_corpus(folder, tuple(args.records) if args.records else MITDB_RECORDS)
    identity = Identity.generate()

    def sink(log_dir: Path, clock: Any, stream_t0: Any) -> Any:
        from monitor.daemon.storage import EncryptedLogSink
        from monitor.store.writer import LogWriter

        writer = LogWriter(log_dir / "ecgmon-log.sqlite", [identity.recipient], clock=clock)
        return EncryptedLogSink(writer, stream_t0, fsync_episodes=not args.no_fsync_episodes)

    chain_mod._sink = sink  # the benchmark's chain, with a sink whose key we hold
    fs = WORKING_FS
    step = max(1, round(args.frame_s * fs))
    with tempfile.TemporaryDirectory(prefix="ecgmon-breakdown-") as tmp:
        chain = chain_mod.build_chain(fs, Path(tmp), timed=True)
        if chain.log_dir is None:
            sys.exit("this installation has no daemon sink: " + "; ".join(chain.missing))
        n = 0
        for rec in corpus.records:
            for i in range(0, rec.samples.size, step):
                chunk = rec.samples[i : i + step]
                chain.feed(chain_mod.frame_of(chunk, T0_NS + round(n * 1e9 / fs), fs))
                n += chunk.size
        chain.finish()
        chain.close()
        path = Path(tmp) / "ecgmon-log.sqlite"
        file_bytes = sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file())
        with sqlite3.connect(path) as conn:
            lengths = [
                row[0] for row in conn.execute("SELECT length(body) FROM records ORDER BY id")
            ]
            page = conn.execute("PRAGMA page_size").fetchone()[0]
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
        count: Counter[str] = Counter()
        stored: Counter[str] = Counter()
        beats = 0
        with LogReader(path) as reader:
            for r in reader.records(identity):
                name = r.rtype.name.lower()
                count[name] += 1
                stored[name] += lengths[r.position.ordinal - 1]
                beats += len(getattr(r.payload, "beats", ()))
    scale = 24 * 3600 * fs / n
    print(f"{corpus.describe()}; frames of {args.frame_s:g} s; {beats:,} beats stored")
    print(f"{'record type':12} {'records/24h':>12} {'MB/24h':>8} {'bytes each':>10}")
    for name, size in stored.most_common():
        print(
            f"{name:12} {count[name] * scale:12,.0f} {size * scale / 1e6:8.2f} "
            f"{size / count[name]:10.0f}"
        )
    records = sum(stored.values())
    print(f"{'records':12} {sum(count.values()) * scale:12,.0f} {records * scale / 1e6:8.2f}")
    print(
        f"{'SQLite rest':12} {'':12} {(file_bytes - records) * scale / 1e6:8.2f}   "
        f"({pages} pages of {page} B; cells, b-tree, free space)"
    )
    print(f"{'file':12} {'':12} {file_bytes * scale / 1e6:8.2f}")
    sink_cpu = chain.stage_cpu.get("encrypted log", 0.0)
    fsync = "without" if args.no_fsync_episodes else "with"
    print(
        f"encrypted log stage (EncryptedLogSink + LogWriter, episodes committed {fsync} "
        f"fsync): {sink_cpu * scale:.2f} CPU s per 24 h (time.process_time around its calls)"
    )


if __name__ == "__main__":
    main()
