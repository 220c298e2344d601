"""CPU time of the signal-quality stage and the VF detector alone over the 48 MIT-BIH
records (about 24 h at 130 Hz), against the same stages at a base git revision.

The stages are fed the day in chunks (60 s, as the end-to-end replay does, or 1 s,
closer to a live strap). The quality stage of this tree is also given the ECG filter's
output, as the pipeline gives it (that filter runs for the classifier anyway; its time
is not counted). The base revision's modules are taken with `git show` into a
temporary package, runs alternate between base and this tree (the machine is shared:
alternating keeps the conditions alike), and the best and median of ``--repeats`` are
printed as CPU s per 24 h, with a check that both give the same verdicts.

    python scripts/time_quality_vf.py --data-dir ../shared/data --base 87c5389
"""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from monitor.evaluation import MITDB_RECORDS, default_data_dir, load_reference
from monitor.signal import WORKING_FS
from monitor.signal.filters import ecg_filter
from monitor.signal.resample import resample_record

MODULES = {
    "filters": "monitor/signal/filters.py",
    "rounding": "monitor/signal/rounding.py",
    "sosbank": "monitor/signal/sosbank.py",
    "quality": "monitor/signal/quality.py",
    "vf": "monitor/classify/vf.py",
}
PACKAGE = "ecgmon_base"


def base_modules(revision: str, folder: Path) -> dict[str, Any]:
    """The base revision's quality and VF modules (and the signal modules they import
    that may have changed), importable from `folder` as package PACKAGE."""
    root = Path(__file__).resolve().parent.parent
    package = folder / PACKAGE
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name, path in MODULES.items():
        text = subprocess.run(
            ["git", "show", f"{revision}:{path}"], cwd=root, check=True, capture_output=True
        ).stdout.decode()
        for other, other_path in MODULES.items():
            dotted = other_path.removesuffix(".py").replace("/", ".")
            text = text.replace(f"from {dotted} import", f"from {PACKAGE}.{other} import")
        (package / f"{name}.py").write_text(text)
    sys.path.insert(0, str(folder))
    return {name: importlib.import_module(f"{PACKAGE}.{name}") for name in ("quality", "vf")}


def load_day(data_dir: Path) -> np.ndarray:
    folder = data_dir / "mitdb" if (data_dir / "mitdb").is_dir() else data_dir
    parts = []
    for name in MITDB_RECORDS:
        ref = load_reference(folder / name)
        parts.append(np.round(resample_record(ref.samples_uv, ref.fs, WORKING_FS)))
    return np.concatenate(parts)


def run(
    make: Callable[[], Any], chunks: list[np.ndarray], bands: list | None
) -> tuple[float, list]:
    """CPU seconds of feeding every chunk and flushing; the verdicts."""
    stage = make()
    out: list = []
    c0 = time.process_time()
    if bands is None:
        for chunk in chunks:
            out += stage.process(chunk)
    else:
        for chunk, band in zip(chunks, bands, strict=True):
            out += stage.process(chunk, band)
    out += stage.flush()
    return time.process_time() - c0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=default_data_dir())
    ap.add_argument("--base", default="main", help="git revision to compare with")
    ap.add_argument("--chunk-s", type=float, default=60.0)
    ap.add_argument("--hours", type=float, default=0.0, help="only the first hours (0: all)")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    from monitor.classify.vf import VfDetector
    from monitor.signal.quality import SignalQuality

    day = load_day(args.data_dir)
    if args.hours:
        day = day[: round(args.hours * 3600 * WORKING_FS)]
    step = max(1, round(args.chunk_s * WORKING_FS))
    chunks = [day[i : i + step] for i in range(0, day.size, step)]
    filt = ecg_filter(WORKING_FS)
    bands = [filt.process(c) for c in chunks]
    per_day = 86_400.0 / (day.size / WORKING_FS)
    with tempfile.TemporaryDirectory(prefix="ecgmon-base-") as tmp:
        base = base_modules(args.base, Path(tmp))
        runs: dict[str, tuple[Callable[[], Any], list | None]] = {
            f"quality @ {args.base}": (lambda: base["quality"].SignalQuality(WORKING_FS), None),
            "quality (this tree)": (lambda: SignalQuality(WORKING_FS), bands),
            f"VF @ {args.base}": (lambda: base["vf"].VfDetector(WORKING_FS), None),
            "VF (this tree)": (lambda: VfDetector(WORKING_FS), None),
        }
        times: dict[str, list[float]] = {name: [] for name in runs}
        verdicts: dict[str, list] = {}
        for _ in range(args.repeats):
            for name, (make, given) in runs.items():
                cpu, out = run(make, chunks, given)
                times[name].append(cpu * per_day)
                verdicts[name] = [vars(v) for v in out]
    print(f"{day.size / WORKING_FS / 3600:.2f} h in {args.chunk_s:g} s chunks, CPU s per 24 h:")
    for name, values in times.items():
        print(f"  {name:24s} best {min(values):.3f}  median {float(np.median(values)):.3f}")
    names = list(runs)
    for old, new in ((names[0], names[1]), (names[2], names[3])):
        same = verdicts[old] == verdicts[new]
        print(f"  {new}: {'same verdicts' if same else 'DIFFERENT VERDICTS'} as {old}")


if __name__ == "__main__":
    main()
