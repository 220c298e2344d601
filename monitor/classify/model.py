"""The shipped beat model: finding it, checking it, and running it with onnxruntime.

Each model file `models/<name>.onnx` has a metadata file `models/<name>.json` that
states the input it was trained on (rate, window, feature version, class order) and
the sha256 of the ONNX file. A model is refused, with a one-line reason, when a file
is missing or corrupt or when its input spec is not what this version of ecgmon
computes: a model that silently read the wrong input would label beats wrongly
without anyone noticing.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from monitor.classify import features as feat
from monitor.classify.beat import BEAT_CLASSES
from monitor.errors import EcgmonError

DEFAULT_MODEL = "beat-student-int8"
"""The model ecgmon ships and uses: the distilled student, int8-quantised."""
MODEL_DIR_ENV = "ECGMON_MODEL_DIR"

OPTIMIZATION_LEVELS = (
    "ORT_DISABLE_ALL",
    "ORT_ENABLE_BASIC",
    "ORT_ENABLE_EXTENDED",
    "ORT_ENABLE_ALL",
)
"""onnxruntime's graph optimisation levels (names of `onnxruntime.GraphOptimizationLevel`)."""

GRAPH_OPTIMIZATION = "ORT_DISABLE_ALL"
"""The level every session is built with, set explicitly so that an onnxruntime default
cannot move labels silently. ORT_DISABLE_ALL runs the int8 QDQ graph as written
(DequantizeLinear, float op, QuantizeLinear), the arithmetic the QDQ format defines;
from ORT_ENABLE_EXTENDED up, onnxruntime 1.32 fuses the QDQ groups into
integer kernels whose results depend on the CPU's instruction set (AVX2 without VNNI
here) and move labels. Measured on the 51,355 detected DS1 beats (x86_64 AVX2 without
VNNI, onnxruntime 1.32.0, `python scripts/compare_int8_paths.py`): int8 labels differ
from float32 on 24 beats at ORT_DISABLE_ALL and ORT_ENABLE_BASIC (and at ORT_ENABLE_ALL
with QDQ fusion turned off), the three bit-identical, against 29 at ORT_ENABLE_EXTENDED
and ORT_ENABLE_ALL (the previous default); 9-11 us per beat in batches of 1024 on one
thread against 5-6 us at ORT_ENABLE_ALL (1.8-1.9x), under the 20 us bar and the 2x cap
of the rule fixed before the measurement (fewest disagreements; equal counts to the
faster). The three tied paths' times differ by less than their run-to-run spread, so
the tie went to the one that rewrites nothing. The float32 models' labels are the same
at every level. What still depends on the CPU: the float kernels (Conv, Gemm) pick their
code by instruction set, so their sums can differ in the last bits, and a value on the
edge of a quantisation step can then round the other way."""

QDQ_FUSION = True
"""Whether onnxruntime may fuse the int8 graph's QDQ groups into integer kernels at levels
that do so (none does at ORT_DISABLE_ALL); set per session for the comparison script."""
QDQ_FUSION_KEY = "session.disable_quant_qdq"
"""onnxruntime's session config entry that turns QDQ fusion off ("1") or on ("0")."""


class ModelError(EcgmonError):
    """The beat model cannot be used (missing, corrupt, or made for other input)."""


def model_dir() -> Path:
    """models/ next to the package (the repository), or $ECGMON_MODEL_DIR."""
    env = os.environ.get(MODEL_DIR_ENV)
    if env:
        return Path(env)
    import monitor

    return Path(monitor.__file__).resolve().parents[1] / "models"


def input_spec() -> dict[str, Any]:
    """What this version of ecgmon feeds the model; a model's metadata must match it."""
    return {
        "input_fs": feat.INPUT_FS,
        "window_before": feat.WINDOW_BEFORE,
        "window_after": feat.WINDOW_AFTER,
        "feature_version": feat.FEATURE_VERSION,
        "context_features": list(feat.RR_FEATURES),
        "needs_next_r_peak": feat.NEEDS_NEXT_R_PEAK,
        "classes": list(BEAT_CLASSES),
    }


def _spec_doc() -> dict[str, Any]:
    return {
        "signal": "one ECG lead (MIT-BIH MLII-like), resampled to input_fs, filtered by "
        "monitor.signal.filters.filter_ecg (0.5-40 Hz Butterworth, streaming)",
        "inputs": {
            "wave": "float32 (beats, 2, window_before + window_after): channel 0 the window "
            "around the R-peak (R at index window_before) minus its median, divided "
            "by its standard deviation (floor 5 uV); channel 1 the running average "
            "of the previous non-premature beats' channel 0 (exponential, weight "
            "1/16; premature: RR before < 0.9 x the long RR average)",
            "context": "float32 (beats, len(context_features)), the features named in "
            "context_features, computed by monitor.classify.features.BeatFeaturizer: RR "
            "intervals relative to running averages of the previous RR (weights 1/8 and "
            "1/128) and to the RR before, RR in seconds, the irregularity of the last RR "
            "intervals, log amplitude relative to the running log amplitude, the RR before "
            "relative to the running average of the non-premature RR (weight 1/8), the "
            "correlation and distance of the beat (whole window, QRS) to the template; "
            "features named *post* read the RR after the beat (needs_next_r_peak)",
        },
        "output": "probabilities: float32 (beats, len(classes)), softmax; where the "
        "model's metadata names an S rule (training.cross_validation.rule), the graph "
        "decides S against N by it (premature against the usual RR, usual QRS, regular "
        "rhythm), on the raw context features",
    }


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_metadata(onnx_path: Path, extra: dict[str, Any]) -> Path:
    """Write `<model>.json` beside the ONNX file (used by scripts/train.py)."""
    meta = {
        "name": onnx_path.stem,
        "file": onnx_path.name,
        "sha256": sha256_file(onnx_path),
        "bytes": onnx_path.stat().st_size,
        **input_spec(),
        "spec": _spec_doc(),
        **extra,
    }
    path = onnx_path.with_suffix(".json")
    path.write_text(json.dumps(meta, indent=2) + "\n")
    return path


def read_metadata(onnx_path: Path) -> dict[str, Any]:
    """The metadata of a model file, checked against the file and this ecgmon's input."""
    meta_path = onnx_path.with_suffix(".json")
    if not onnx_path.is_file():
        raise ModelError(f"beat model {onnx_path} is missing (set {MODEL_DIR_ENV} or reinstall)")
    if not meta_path.is_file():
        raise ModelError(f"beat model metadata {meta_path} is missing")
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"beat model metadata {meta_path} is unreadable: {exc}") from exc
    if not isinstance(meta, dict):
        raise ModelError(f"beat model metadata {meta_path} is not a JSON object")
    if meta.get("sha256") != sha256_file(onnx_path):
        raise ModelError(
            f"beat model {onnx_path} is corrupt (sha256 differs from {meta_path.name})"
        )
    expected = input_spec()
    for key, want in expected.items():
        got = meta.get(key)
        if got != want:
            raise ModelError(
                f"beat model {onnx_path.name} was made for {key}={got!r}, "
                f"but ecgmon computes {key}={want!r}"
            )
    return meta


def session_options(
    threads: int = 1, optimization: str = GRAPH_OPTIMIZATION, qdq_fusion: bool = QDQ_FUSION
) -> Any:
    """The onnxruntime SessionOptions a BeatModel is built with (one place, so tests can
    build the same session and look at the graph onnxruntime actually runs)."""
    if optimization not in OPTIMIZATION_LEVELS:
        raise ValueError(f"unknown graph optimisation level {optimization!r}")
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, optimization)
    options.add_session_config_entry(QDQ_FUSION_KEY, "0" if qdq_fusion else "1")
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return options


class BeatModel:
    """An ONNX beat model in an onnxruntime CPU session (one thread by default)."""

    def __init__(
        self,
        path: Path | str | None = None,
        threads: int = 1,
        optimization: str = GRAPH_OPTIMIZATION,
        qdq_fusion: bool = QDQ_FUSION,
    ) -> None:
        self.path = resolve_model(path)
        self.metadata = read_metadata(self.path)
        self.optimization = optimization
        self.qdq_fusion = qdq_fusion
        import onnxruntime as ort

        options = session_options(threads, optimization, qdq_fusion)
        try:
            self._session = ort.InferenceSession(
                str(self.path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"beat model {self.path} cannot be loaded: {exc}") from exc
        self.input_fs = float(self.metadata["input_fs"])
        self.classes: tuple[str, ...] = tuple(self.metadata["classes"])

    @property
    def session_optimization(self) -> str:
        """The graph optimisation level onnxruntime reports for this session."""
        return str(self._session.get_session_options().graph_optimization_level.name)

    @property
    def name(self) -> str:
        return self.path.stem

    def predict(self, wave: np.ndarray, context: np.ndarray) -> np.ndarray:
        """Class probabilities (beats, classes) for a batch of beat features."""
        wave = np.ascontiguousarray(wave, dtype=np.float32)
        context = np.ascontiguousarray(context, dtype=np.float32)
        if wave.ndim != 3 or wave.shape[1:] != (2, feat.WINDOW):
            raise ValueError(
                f"beat windows must have shape (beats, 2, {feat.WINDOW}), got {wave.shape}"
            )
        if context.shape != (wave.shape[0], feat.N_CONTEXT):
            raise ValueError(
                f"beat context must have shape ({wave.shape[0]}, {feat.N_CONTEXT}), "
                f"got {context.shape}"
            )
        if wave.shape[0] == 0:
            raise ValueError("empty batch: there are no beats to classify")
        (probs,) = self._session.run(["probabilities"], {"wave": wave, "context": context})
        return np.asarray(probs)


def resolve_model(path: Path | str | None) -> Path:
    """A model path: a file, a name in the models folder, or the default model."""
    if path is None:
        return model_dir() / f"{DEFAULT_MODEL}.onnx"
    p = Path(path)
    if p.suffix == ".onnx" or p.parent != Path("."):
        return p
    return model_dir() / f"{p}.onnx"
