"""MIT-BIH records as the beat model sees them (shared by train.py and evaluate_beats.py).

Each record's lead MLII is resampled to 130 Hz and filtered with the runtime ECG
filter; ecgmon's own streaming QRS detector finds the beats, and each detection gets
the AAMI class of the reference beat it matches within 150 ms (or none). Results are
cached on disk (outside the repository) keyed by the code that makes them (the signal
package, the reference reader and the beat matcher), so a rerun after any of them
changes recomputes them.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import monitor.classify.scoring
import monitor.evaluation
import monitor.signal
from monitor.classify.beat import BEAT_CLASSES
from monitor.classify.scoring import match_beats
from monitor.evaluation import AAMI_CLASS, MATCH_WINDOW_S, load_reference
from monitor.signal import WORKING_FS
from monitor.signal.filters import filter_ecg
from monitor.signal.qrs import detect_qrs
from monitor.signal.resample import resample_record

CLASS_INDEX = {c: i for i, c in enumerate(BEAT_CLASSES)}


@dataclass(frozen=True)
class RecordBeats:
    name: str
    filtered: np.ndarray  # float32, runtime filter output at 130 Hz
    detected: np.ndarray  # detector R-peaks at 130 Hz
    det_label: np.ndarray  # class index of the matched reference beat, -1 when unmatched
    ref_native: np.ndarray  # reference beats at the record's own rate
    ref_130: np.ndarray  # the same, mapped to 130 Hz
    ref_label: np.ndarray  # class index of each reference beat
    det_native: np.ndarray  # detections mapped to the record's rate
    match: np.ndarray  # for each reference beat, index of its detection or -1
    fs_native: float


CODE_FILES: tuple[Path, ...] = (
    *sorted(Path(monitor.signal.__file__).parent.glob("*.py")),
    Path(monitor.evaluation.__file__),
    Path(monitor.classify.scoring.__file__),
    Path(__file__),
)
"""What a prepared record depends on besides the data: the filter, resampler and QRS
detector; the reference reader and AAMI map; the beat matcher; this module."""


def code_key(paths: tuple[Path, ...] = CODE_FILES) -> str:
    """A short digest of the source files' bytes (any edit gives a new key)."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def prepare(base: Path) -> RecordBeats:
    ref = load_reference(base)
    x = resample_record(ref.samples_uv, ref.fs, WORKING_FS)
    filtered = filter_ecg(x, WORKING_FS).astype(np.float32)
    detected = detect_qrs(x, WORKING_FS)
    scale = ref.fs / WORKING_FS
    det_native = np.round(detected * scale).astype(np.int64)
    ref_native = np.asarray(ref.beat_samples, dtype=np.int64)
    ref_label = np.array([CLASS_INDEX[AAMI_CLASS[s]] for s in ref.beat_symbols], dtype=np.int64)
    match = match_beats(ref_native, det_native, round(MATCH_WINDOW_S * ref.fs))
    det_label = np.full(detected.size, -1, dtype=np.int64)
    ok = match >= 0
    det_label[match[ok]] = ref_label[ok]
    ref_130 = np.clip(np.round(ref_native / scale).astype(np.int64), 0, filtered.size - 1)
    return RecordBeats(
        base.name,
        filtered,
        detected,
        det_label,
        ref_native,
        ref_130,
        ref_label,
        det_native,
        match,
        float(ref.fs),
    )


def load(data_dir: Path, names: list[str] | tuple[str, ...], cache_dir: Path) -> list[RecordBeats]:
    """Prepared records, from the cache when the code that prepares them has not changed."""
    # The folder is part of the key: two databases may both have a record "100".
    folder = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:8]
    key = f"{folder}-{code_key()}"
    cache_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for i, name in enumerate(names, 1):
        path = cache_dir / f"{name}-{key}.npz"
        if path.is_file():
            with np.load(path) as z:
                rb = RecordBeats(
                    name=name,
                    fs_native=float(z["fs_native"]),
                    **{
                        k: z[k]
                        for k in RecordBeats.__dataclass_fields__
                        if k not in ("name", "fs_native")
                    },
                )
        else:
            rb = prepare(data_dir / name)
            np.savez(
                path, **{k: getattr(rb, k) for k in RecordBeats.__dataclass_fields__ if k != "name"}
            )
        out.append(rb)
        print(f"\r  records {i}/{len(names)}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return out
