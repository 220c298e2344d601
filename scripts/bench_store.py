"""Measure the encrypted log: bytes per 24 h at 130 Hz and writer throughput.

    python scripts/bench_store.py --data-dir ../shared/data/mitdb     # real ECG, 24 h
    python scripts/bench_store.py --synthetic --hours 2               # no data needed
"""

from __future__ import annotations

import argparse
from pathlib import Path

from monitor.evaluation import default_data_dir
from monitor.store.bench import measure_store, mitdb_day, synthetic_day


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=default_data_dir() / "mitdb",
                        help="MIT-BIH Arrhythmia folder (default: ../shared/data/mitdb)")
    parser.add_argument("--synthetic", action="store_true", help="use a synthetic signal")
    parser.add_argument("--hours", type=float, help="write only this many hours")
    parser.add_argument("--dir", type=Path, help="where to put the temporary log")
    parser.add_argument("--block-s", type=float, default=10.0, help="ECG block length (10 s)")
    parser.add_argument("--quantum-uv", type=int, default=1,
                        help="round the resampled MIT-BIH signal to this many uV (1; 5 is "
                        "MIT-BIH's own resolution)")
    args = parser.parse_args()
    if args.synthetic or not args.data_dir.is_dir():
        if not args.synthetic:
            print(f"{args.data_dir} not found: using a synthetic signal")
        day = synthetic_day(args.hours or 24.0)
    else:
        day = mitdb_day(args.data_dir, args.quantum_uv)
    print(measure_store(day, hours=args.hours, directory=args.dir,
                        block_s=args.block_s).render())


if __name__ == "__main__":
    main()
