"""Check the signal-quality thresholds on DS1 records mixed with NSTDB noise.

The noise-stress test of Moody, Muldrow and Mark (1984) adds the `em`/`ma` noise
recordings to clean ECG at a stated SNR in alternating two-minute segments. This
script builds the same kind of mixture from DS1 records (never the 118/119 records
the NSTDB test files are made of, and never DS2) so the quality thresholds can be
chosen without looking at the figures docs/RHYTHM.md reports. It prints, per SNR,
the share of noisy and clean seconds marked unreadable and the feature quantiles.

    python scripts/tune_quality.py --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from monitor.evaluation import DS1, default_data_dir, load_reference
from monitor.recording import import_wfdb
from monitor.signal import WORKING_FS
from monitor.signal.quality import assess_quality
from monitor.signal.resample import resample_record

SNRS_DB = (24, 18, 12, 6, 0, -6)


def noise_mask(n: int, fs: float) -> np.ndarray:
    """NSTDB layout: clean for 5 min, then 2 min noisy / 2 min clean alternately."""
    t = np.arange(n) / fs
    after = t - 300.0
    return (after >= 0) & ((after // 120) % 2 == 0)


def qrs_power(ref_samples: np.ndarray, beats: np.ndarray, fs: float) -> float:
    """NSTDB signal power: mean of (QRS peak-to-peak)^2 / 8 over the beats."""
    half = int(0.05 * fs)
    amps = [np.ptp(ref_samples[max(0, b - half) : b + half]) for b in beats[1:-1]]
    return float(np.mean(np.square(amps)) / 8.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--noise", default="em", choices=["em", "ma", "bw"])
    parser.add_argument("--records", nargs="*", default=[r for r in DS1 if r not in ("118", "119")])
    args = parser.parse_args()
    wfdb = import_wfdb("reading the noise records")
    noise_rec = wfdb.rdrecord(str(args.data_dir / "nstdb" / args.noise))
    noise = np.asarray(noise_rec.p_signal[:, 0], dtype=np.float64) * 1000.0
    rows: dict[int, list[tuple[float, float]]] = {s: [] for s in SNRS_DB}
    clean_marked: list[float] = []
    for rec in args.records:
        ref = load_reference(args.data_dir / "mitdb" / rec)
        s_power = qrs_power(ref.samples_uv, ref.beat_samples, ref.fs)
        n = min(len(noise), len(ref.samples_uv))
        mask = noise_mask(n, ref.fs)
        nz = noise[:n] - np.mean(noise[:n])
        n_power = float(np.mean(nz[mask] ** 2))
        base = assess_quality(resample_record(ref.samples_uv[:n], ref.fs, WORKING_FS), WORKING_FS)
        clean_marked.append(float(np.mean([not q.readable for q in base])))
        sec_noisy = np.array([mask[min(n - 1, int((q.index + 0.5) * ref.fs))] for q in base])
        for snr in SNRS_DB:
            gain = np.sqrt(s_power / (n_power * 10 ** (snr / 10)))
            mixed = ref.samples_uv[:n] + np.where(mask, gain * nz, 0.0)
            q = assess_quality(resample_record(mixed, ref.fs, WORKING_FS), WORKING_FS)
            bad = np.array([not s.readable for s in q])
            k = min(len(bad), len(sec_noisy))
            noisy = sec_noisy[:k]
            rows[snr].append((float(bad[:k][noisy].mean()), float(bad[:k][~noisy].mean())))
        print(f"{rec}: clean record unreadable {100 * clean_marked[-1]:.1f}%", flush=True)
    print(f"noise {args.noise}: share of seconds marked unreadable (mean over records)")
    print("SNR dB | noisy segments | clean segments")
    for snr in SNRS_DB:
        a = np.array(rows[snr])
        print(f"{snr:6d} | {100 * a[:, 0].mean():13.1f}% | {100 * a[:, 1].mean():13.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
