"""Make ecgmon's synthetic test recording with ECGSYN, and write its ground truth beside it.

The tests and README's main job replay a small recording that is ours to ship: it is
not cut from any database. It is made with ECGSYN, the dynamical model of

    McSharry PE, Clifford GD, Tarassenko L, Smith LA. A dynamical model for generating
    synthetic electrocardiogram signals. IEEE Trans Biomed Eng 50(3):289-294 (2003).

The model is a point moving on a unit limit cycle in the (x, y) plane at the angular
speed of the heart, omega = 2 pi / RR, while z, the ECG, is pushed up and down by five
Gaussian "events" (P, Q, R, S, T) placed at fixed angles on the cycle:

    dx/dt = alpha x - omega y            alpha = 1 - sqrt(x^2 + y^2)
    dy/dt = alpha y + omega x
    dz/dt = - sum_i a_i dtheta_i exp(-dtheta_i^2 / (2 b_i^2)) - (z - z0(t))

with dtheta_i = (theta - theta_i) wrapped to (-pi, pi], theta = atan2(y, x), and
z0(t) = A sin(2 pi f2 t) the respiratory baseline. RR intervals come from the paper's
bimodal spectrum: a Mayer wave at 0.1 Hz and respiratory sinus arrhythmia at 0.25 Hz
(LF/HF 0.5), given random phases and inverse-Fourier-transformed.

Two choices go beyond the paper, to place ectopic beats where the ground truth says:

* omega is constant between two consecutive R-peaks (theta = 0 at every R-peak), so
  each beat's R time is exactly the time we schedule;
* the paper adjusts the event angles and widths to the mean heart rate
  (b_i * sqrt(hr/60), theta_i * (hr/60)^(1/4 or 1/2)); we apply that same rule beat
  by beat, with each beat's own sinus rate, and express each event in time, so a
  premature beat keeps its shape and only moves. Ectopic beats get their own events
  (no P and a wide, bizarre QRS with a discordant T for ventricular beats; an inverted,
  early P for supraventricular ones).

The model is integrated with fourth-order Runge-Kutta at 8 x 130 Hz and sampled at
130 Hz (the Polar H10 rate), scaled as ECGSYN does to -0.4 .. 1.2 mV, written in whole
microvolts. Noise is added on top at 130 Hz: a small white floor everywhere, and in
one stretch muscle-like noise and strong baseline wander. Everything is seeded, so
running this script again rewrites the same files.

    python scripts/make_fixtures.py            # writes fixtures/synthetic_130hz.*
    python scripts/make_fixtures.py --out DIR  # somewhere else
"""

from __future__ import annotations

import argparse
import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import signal

FS = 130.0
"""Output rate: what the Polar H10 delivers."""
OVERSAMPLE = 8
"""Integration steps per output sample (ECGSYN integrates at a multiple of the output rate)."""
DURATION_S = 300.0
SEED = 20030301
"""Fixed seed (the paper's publication month), so the fixture is reproducible."""

HR_MEAN = 72.0
HR_STD = 3.0
"""Sinus rate and its standard deviation (bpm) for the RR process."""
LF_HZ, HF_HZ, LF_STD_HZ, HF_STD_HZ, LF_HF = 0.1, 0.25, 0.01, 0.01, 0.5
"""RR spectrum: Mayer wave, respiratory sinus arrhythmia (McSharry et al., Table 1 text)."""
BASELINE_Z = 0.005
"""Amplitude of the respiratory baseline z0 in model units (ecgsyn.m's value)."""

# ECGSYN Table 1 at 60 bpm: angles (rad), amplitudes a_i and widths b_i for P Q R S T.
THETA0 = np.array([-math.pi / 3, -math.pi / 12, 0.0, math.pi / 12, math.pi / 2])
A0 = np.array([1.2, -5.0, 30.0, -7.5, 0.75])
B0 = np.array([0.25, 0.1, 0.1, 0.1, 0.4])
ANGLE_EXPONENT = np.array([0.75, 0.5, 0.0, 0.5, 0.75])
"""Event time ~ RR**exponent: the paper's hrfact2 (P, T) and hrfact (Q, S) rule in time."""

# The same events in time at 60 bpm (omega = 2 pi): centre, width, z-amplitude.
OMEGA_60 = 2 * math.pi
T0 = THETA0 / OMEGA_60
W0 = B0 / OMEGA_60
AMP0 = A0 * B0**2 / OMEGA_60
"""A Gaussian event a, b at angular speed w integrates to a z-bump of height a b^2 / w."""


@dataclass(frozen=True)
class Morphology:
    """Multipliers on the five sinus events (P Q R S T) for one kind of beat."""

    amp: tuple[float, float, float, float, float] = (1, 1, 1, 1, 1)
    width: tuple[float, float, float, float, float] = (1, 1, 1, 1, 1)
    shift_s: tuple[float, float, float, float, float] = (0, 0, 0, 0, 0)


SINUS = Morphology()
AF_BEAT = Morphology(amp=(0, 1, 1, 1, 1))
"""Conducted beat in atrial fibrillation: the same QRS-T, no P wave."""
PAC = Morphology(amp=(-0.8, 1, 1, 1, 1), width=(0.8, 1, 1, 1, 1), shift_s=(0.03, 0, 0, 0, 0))
"""Premature atrial beat: an ectopic focus gives an inverted, earlier-looking P; normal QRS."""
PVC_1 = Morphology(
    amp=(0, 0.0, 1.2, 1.6, -1.1),
    width=(1, 1, 2.0, 2.0, 1.1),
    shift_s=(0, 0, 0.0, 0.025, 0.02),
)
"""Ventricular beat, focus 1: no P, broad R and deep broad S, inverted T (wide QRS)."""
PVC_2 = Morphology(
    amp=(0, 0.0, -0.9, 0.0, 1.4),
    width=(1, 1, 2.0, 1, 1.2),
    shift_s=(0, 0, 0.0, 0, 0.04),
)
"""Ventricular beat, focus 2: a broad QS complex with a tall discordant T."""


@dataclass(frozen=True)
class Beat:
    r_time: float  # R-peak time, seconds (on the integration grid)
    label: str  # AAMI class: N, S or V
    morph: Morphology
    rr_ref: float  # the sinus RR the event timing is adjusted to (paper's hr rule)


@dataclass(frozen=True)
class Plan:
    """Where the rhythm events of the fixture go (seconds)."""

    pac_times: tuple[float, ...] = (21.0, 47.5, 88.0, 232.0, 271.0)
    pvc_times: tuple[float, ...] = (33.0, 64.0, 163.0, 247.0, 284.0)
    af: tuple[float, float] = (100.0, 140.0)
    noise: tuple[float, float] = (180.0, 210.0)


def rr_process(rng: np.random.Generator, n: int) -> np.ndarray:
    """RR intervals (s) sampled at 1 Hz from ECGSYN's Mayer + RSA spectrum (rrprocess)."""
    w = 2 * np.pi * np.arange(n) / n  # angular frequency at 1 Hz sampling
    w1, w2 = 2 * np.pi * LF_HZ, 2 * np.pi * HF_HZ
    c1, c2 = 2 * np.pi * LF_STD_HZ, 2 * np.pi * HF_STD_HZ
    spectrum = LF_HF * np.exp(-0.5 * ((w - w1) / c1) ** 2) / np.sqrt(2 * np.pi * c1**2)
    spectrum += np.exp(-0.5 * ((w - w2) / c2) ** 2) / np.sqrt(2 * np.pi * c2**2)
    half = n // 2
    amplitude = 0.5 * np.sqrt(spectrum[: half + 1])
    phase = rng.uniform(0, 2 * np.pi, half + 1)
    phase[0] = 0.0
    if n % 2 == 0:
        phase[-1] = 0.0
    x = np.fft.irfft(amplitude * np.exp(1j * phase), n)
    rr_mean = 60.0 / HR_MEAN
    rr_std = 60.0 * HR_STD / HR_MEAN**2
    return rr_mean + (x - x.mean()) * (rr_std / x.std())


def schedule_beats(rng: np.random.Generator, plan: Plan) -> list[Beat]:
    """Every R-peak of the recording with its class, from the sinus RR process and the plan."""
    rr_series = rr_process(rng, int(DURATION_S) + 64)
    grid = 1.0 / (FS * OVERSAMPLE)

    def sinus_rr(t: float) -> float:
        return float(np.interp(t, np.arange(rr_series.size), rr_series))

    def on_grid(t: float) -> float:
        return round(t / grid) * grid

    pacs, pvcs = list(plan.pac_times), list(plan.pvc_times)
    af_start, af_end = plan.af
    af_rr_mean = 0.62
    beats: list[Beat] = []
    t = 0.55
    beats.append(Beat(on_grid(t), "N", SINUS, sinus_rr(t)))
    pvc_count = 0
    while True:
        rr = sinus_rr(t)
        nxt = t + rr
        if af_start <= nxt < af_end:
            # Irregularly irregular: independent RR intervals, no P wave.
            af_rr = float(np.clip(rng.lognormal(np.log(af_rr_mean), 0.25), 0.36, 1.3))
            t = t + af_rr
            if t >= DURATION_S - 0.5:
                break
            beats.append(Beat(on_grid(t), "N", AF_BEAT, af_rr_mean))
            continue
        if pacs and nxt >= pacs[0]:
            pacs.pop(0)
            t_pac = t + 0.66 * rr
            beats.append(Beat(on_grid(t_pac), "S", PAC, rr))
            t = t_pac  # the sinus node is reset: the next beat comes one RR later
            continue
        if pvcs and nxt >= pvcs[0]:
            pvcs.pop(0)
            morph = PVC_1 if pvc_count % 2 == 0 else PVC_2
            pvc_count += 1
            t_pvc = t + 0.58 * rr
            beats.append(Beat(on_grid(t_pvc), "V", morph, rr))
            # Full compensatory pause: the sinus beat after comes two cycles after the last.
            t = t + 2 * rr
            if t >= DURATION_S - 0.5:
                break
            beats.append(Beat(on_grid(t), "N", SINUS, sinus_rr(t)))
            continue
        t = nxt
        if t >= DURATION_S - 0.5:
            break
        beats.append(Beat(on_grid(t), "N", SINUS, rr))
    return beats


def _events(beat: Beat) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centres (s, relative to R), widths (s) and z-amplitudes of a beat's five events."""
    rr = beat.rr_ref
    m = beat.morph
    centre = T0 * rr**ANGLE_EXPONENT + np.asarray(m.shift_s)
    width = W0 * np.sqrt(rr) * np.asarray(m.width)
    amp = AMP0 * np.asarray(m.amp, dtype=float)
    return centre, width, amp


def integrate_ecgsyn(beats: list[Beat], n_out: int) -> np.ndarray:
    """Integrate the ECGSYN ODE with RK4 and return z at the output rate (model units).

    Between R-peaks k and k+1, omega = 2 pi / (R_{k+1} - R_k), so theta = 0 at every
    R-peak. In that interval the events of beat k (its S, T) and of beat k+1 (its P, Q)
    act, each converted from time to the ODE's angle at that omega:
    theta_i = omega t_i, b_i = omega w_i, a_i = amp_i / (omega w_i^2).
    """
    h = 1.0 / (FS * OVERSAMPLE)
    n_steps = n_out * OVERSAMPLE
    r_times = [b.r_time for b in beats]
    events = [_events(b) for b in beats]
    # Before the first beat and after the last: extend with the neighbouring interval.
    first_rr = r_times[1] - r_times[0]
    last_rr = r_times[-1] - r_times[-2]
    bounds = [r_times[0] - first_rr, *r_times, r_times[-1] + last_rr, math.inf]
    # Interval j runs from bounds[j] to bounds[j + 1]; its left R-peak is beat j - 1 and
    # its right R-peak beat j (None outside the recording).
    n_beats = len(beats)

    def interval_params(j: int) -> tuple[float, float, list[tuple[float, float, float, float]]]:
        """omega, start time and (theta_i, b_i, a_i, branch offset) of the interval j."""
        start, end = bounds[j], bounds[j + 1]
        if math.isinf(end):
            end = start + last_rr
        omega = 2 * math.pi / (end - start)
        terms: list[tuple[float, float, float, float]] = []
        for beat_index, offset in ((j - 1, 0.0), (j, 2 * math.pi)):
            if not 0 <= beat_index < n_beats:
                continue
            centre, width, amp = events[beat_index]
            for c, w, a in zip(centre, width, amp, strict=True):
                if a == 0.0:
                    continue
                terms.append((omega * c, omega * w, a / (omega * w * w), offset))
        return omega, start, terms

    z_out = np.empty(n_out)
    j = 0
    omega, start, terms = interval_params(j)
    # Start (t = 0) on the limit cycle at the phase that puts theta = 0 at the first R-peak.
    theta_start = 2 * math.pi - omega * r_times[0]
    x, y, z = math.cos(theta_start), math.sin(theta_start), 0.0
    two_pi = 2 * math.pi
    breath = 2 * math.pi * HF_HZ

    def deriv(t: float, x: float, y: float, z: float) -> tuple[float, float, float]:
        alpha = 1.0 - math.sqrt(x * x + y * y)
        phi = math.atan2(y, x) % two_pi  # angle since the interval's first R-peak
        # Right at an R-peak, rounding can put theta a hair on the wrong side of 0.
        elapsed = (t - start) * omega
        if phi > 1.5 * math.pi and elapsed < 0.5 * math.pi:
            phi -= two_pi
        elif phi < 0.5 * math.pi and elapsed > 1.5 * math.pi:
            phi += two_pi
        force = 0.0
        for theta_i, b_i, a_i, offset in terms:
            d = phi - offset - theta_i
            if -6 * b_i < d < 6 * b_i:
                force -= a_i * d * math.exp(-0.5 * (d / b_i) ** 2)
        z0 = BASELINE_Z * math.sin(breath * t)
        return alpha * x - omega * y, alpha * y + omega * x, force - (z - z0)

    for step in range(n_steps):
        t = step * h
        while t >= bounds[j + 1] - 1e-12:
            j += 1
            omega, start, terms = interval_params(j)
        if step % OVERSAMPLE == 0:
            z_out[step // OVERSAMPLE] = z
        k1 = deriv(t, x, y, z)
        k2 = deriv(t + h / 2, x + h / 2 * k1[0], y + h / 2 * k1[1], z + h / 2 * k1[2])
        k3 = deriv(t + h / 2, x + h / 2 * k2[0], y + h / 2 * k2[1], z + h / 2 * k2[2])
        k4 = deriv(t + h, x + h * k3[0], y + h * k3[1], z + h * k3[2])
        x += h / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0])
        y += h / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1])
        z += h / 6 * (k1[2] + 2 * k2[2] + 2 * k3[2] + k4[2])
    return z_out


def to_microvolts(z: np.ndarray, reference: slice) -> np.ndarray:
    """ECGSYN's scaling to -0.4 .. 1.2 mV, fixed on a sinus-only reference stretch."""
    lo, hi = float(z[reference].min()), float(z[reference].max())
    return (z - lo) * (1600.0 / (hi - lo)) - 400.0


def fibrillatory_waves(rng: np.random.Generator, n: int, span: tuple[float, float]) -> np.ndarray:
    """Small 4-8 Hz atrial f-waves over the AF stretch (faded in and out over 1 s)."""
    t = np.arange(n) / FS
    waves = np.zeros(n)
    for freq, amp in ((5.3, 30.0), (6.7, 18.0), (4.4, 12.0)):
        drift = np.cumsum(rng.normal(0, 0.02, n))  # slowly wandering phase
        waves += amp * np.sin(2 * np.pi * freq * t + drift + rng.uniform(0, 2 * np.pi))
    envelope = np.clip(np.minimum(t - span[0], span[1] - t), 0.0, 1.0)
    return waves * envelope


def noise(rng: np.random.Generator, n: int, span: tuple[float, float]) -> np.ndarray:
    """White floor everywhere; muscle-like noise and baseline wander inside `span`."""
    t = np.arange(n) / FS
    floor = rng.normal(0, 6.0, n)
    inside = np.clip(np.minimum(t - span[0], span[1] - t), 0.0, 2.0) / 2.0  # 2 s fades
    # Muscle (EMG-like): broadband 15-55 Hz in bursts of a few seconds.
    muscle = signal.sosfiltfilt(
        signal.butter(4, [15, 55], "bandpass", fs=FS, output="sos"), rng.normal(0, 1, n)
    )
    muscle *= 70.0 / muscle.std()
    bursts = 0.5 + 0.5 * np.abs(np.sin(2 * np.pi * 0.11 * t + rng.uniform(0, 6.3)))
    # Baseline wander: breathing and body movement, 0.1-0.6 Hz, several hundred uV.
    wander = sum(
        amp * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
        for f, amp in ((0.13, 450.0), (0.29, 250.0), (0.55, 120.0))
    )
    return floor + inside * (muscle * bursts + wander)


def locate_truth(clean_uv: np.ndarray, beats: list[Beat]) -> np.ndarray:
    """Sample of each beat's main deflection on the clean ECG, within 60 ms of its R time.

    Databases annotate a beat at its major QRS deflection, not at the model's R angle;
    for a sinus beat the two coincide, for a broad ventricular beat the deepest part
    may be the S wave.
    """
    half = round(0.06 * FS)
    detrended = clean_uv - signal.medfilt(clean_uv, 2 * round(0.3 * FS) + 1)
    out = np.empty(len(beats), dtype=np.int64)
    for k, beat in enumerate(beats):
        centre = round(beat.r_time * FS)
        lo, hi = max(0, centre - half), min(clean_uv.size, centre + half + 1)
        out[k] = lo + int(np.argmax(np.abs(detrended[lo:hi])))
    return out


def make(out_dir: Path) -> dict[str, int]:
    """Write synthetic_130hz.csv, .truth.csv and .segments.csv into `out_dir`."""
    rng = np.random.default_rng(SEED)
    plan = Plan()
    beats = schedule_beats(rng, plan)
    n = round(DURATION_S * FS)
    z = integrate_ecgsyn(beats, n)
    clean = to_microvolts(z, slice(0, round(10 * FS)))
    clean += fibrillatory_waves(rng, n, plan.af)
    truth = locate_truth(clean, beats)
    ecg = np.round(clean + noise(rng, n, plan.noise)).astype(np.int64)

    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / "synthetic_130hz.csv").open("w", newline="") as handle:
        handle.write("ecg_uv\n")
        handle.write("\n".join(str(int(v)) for v in ecg) + "\n")
    with (out_dir / "synthetic_130hz.truth.csv").open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["sample", "time_s", "label"])
        for sample, beat in zip(truth, beats, strict=True):
            writer.writerow([int(sample), f"{sample / FS:.4f}", beat.label])
    with (out_dir / "synthetic_130hz.segments.csv").open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["start_s", "end_s", "kind"])
        writer.writerow([f"{plan.af[0]:.1f}", f"{plan.af[1]:.1f}", "af"])
        writer.writerow([f"{plan.noise[0]:.1f}", f"{plan.noise[1]:.1f}", "noise"])
    labels = [b.label for b in beats]
    return {"beats": len(beats), **{c: labels.count(c) for c in "NSV"}, "samples": n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parents[1] / "fixtures",
        help="output folder (default: the repository's fixtures/)",
    )
    args = parser.parse_args()
    counts = make(args.out)
    print(
        f"wrote {args.out}/synthetic_130hz.csv: {counts['samples']} samples, "
        f"{counts['beats']} beats (N {counts['N']}, S {counts['S']}, V {counts['V']})"
    )


if __name__ == "__main__":
    main()
