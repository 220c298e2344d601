"""The shipped beat model: it loads, its metadata matches, and bad models are refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from monitor.classify import features as feat
from monitor.classify.beat import BEAT_CLASSES
from monitor.classify.classifier import BeatClassifier, classify_beats
from monitor.classify.model import (
    DEFAULT_MODEL,
    BeatModel,
    ModelError,
    input_spec,
    model_dir,
    read_metadata,
    sha256_file,
)

MAX_BYTES = 64 * 1024


def test_shipped_model_loads_and_its_metadata_matches() -> None:
    model = BeatModel()
    meta = model.metadata
    assert model.path == model_dir() / f"{DEFAULT_MODEL}.onnx"
    assert meta["sha256"] == sha256_file(model.path)
    assert {k: meta[k] for k in input_spec()} == input_spec()
    assert model.classes == BEAT_CLASSES
    assert model.input_fs == 130.0
    assert meta["training"]["records"] and "DS1" in meta["training"]["data"]
    assert meta["quantization"].startswith("int8")
    assert model.path.stat().st_size <= MAX_BYTES


def test_every_shipped_variant_has_valid_metadata() -> None:
    models = sorted(model_dir().glob("beat-*.onnx"))
    assert len(models) >= 2
    for path in models:
        read_metadata(path)


def test_model_dir_can_be_overridden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECGMON_MODEL_DIR", str(tmp_path))
    assert model_dir() == tmp_path
    with pytest.raises(ModelError, match="missing"):
        BeatModel()


def _copy_model(tmp_path: Path) -> Path:
    src = model_dir() / f"{DEFAULT_MODEL}.onnx"
    dst = tmp_path / src.name
    shutil.copy(src, dst)
    shutil.copy(src.with_suffix(".json"), dst.with_suffix(".json"))
    return dst


def test_a_corrupt_model_file_is_refused(tmp_path: Path) -> None:
    path = _copy_model(tmp_path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="corrupt"):
        BeatModel(path)


def test_a_model_that_is_not_onnx_is_refused_even_with_a_matching_checksum(tmp_path: Path) -> None:
    path = _copy_model(tmp_path)
    path.write_bytes(b"not an onnx model")
    meta_path = path.with_suffix(".json")
    meta = json.loads(meta_path.read_text())
    meta["sha256"] = sha256_file(path)
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="cannot be loaded"):
        BeatModel(path)


def test_missing_or_unreadable_metadata_is_refused(tmp_path: Path) -> None:
    path = _copy_model(tmp_path)
    path.with_suffix(".json").write_text("{not json")
    with pytest.raises(ModelError, match="unreadable"):
        BeatModel(path)
    path.with_suffix(".json").unlink()
    with pytest.raises(ModelError, match=r"metadata .* is missing"):
        BeatModel(path)


@pytest.mark.parametrize(
    ("key", "value"),
    [("input_fs", 250.0), ("window_before", 90), ("feature_version", 0), ("classes", ["N", "V"])],
)
def test_a_model_made_for_other_input_is_refused(tmp_path: Path, key: str, value: object) -> None:
    path = _copy_model(tmp_path)
    meta_path = path.with_suffix(".json")
    meta = json.loads(meta_path.read_text())
    meta[key] = value
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ModelError, match=f"made for {key}="):
        BeatModel(path)


def test_a_wrong_input_rate_is_refused() -> None:
    model = BeatModel()
    with pytest.raises(ModelError, match="reads 130 Hz ECG but was given 250 Hz"):
        BeatClassifier(model, fs=250.0)
    with pytest.raises(ModelError, match="given 360 Hz"):
        classify_beats(np.zeros(1000), np.array([100, 200]), fs=360.0, model=model)


def test_an_empty_batch_is_a_clear_error() -> None:
    model = BeatModel()
    with pytest.raises(ValueError, match="empty batch"):
        model.predict(
            np.empty((0, 2, feat.WINDOW), np.float32), np.empty((0, feat.N_CONTEXT), np.float32)
        )
    with pytest.raises(ValueError, match="shape"):
        model.predict(np.zeros((3, 2, 10), np.float32), np.zeros((3, feat.N_CONTEXT), np.float32))


def test_no_beats_gives_no_labels() -> None:
    assert classify_beats(np.zeros(500), np.empty(0, np.int64), model=BeatModel()) == []


def test_the_shipped_graph_decides_s_against_n_by_the_rule_its_metadata_states() -> None:
    """Of the beats the model calls N or S, exactly those the stated S rule fires on
    are S (the rule is part of the graph, on the raw context features)."""
    from monitor.signal.filters import filter_ecg

    model = BeatModel()
    cv = model.metadata["training"]["cross_validation"]
    rule = cv["rule_nokd" if cv["shipped_student"] == "labels only" else "rule"]
    # A regular 0.8 s rhythm; every fifth beat comes early (0.45 to 0.75 of the RR).
    rng = np.random.default_rng(12)
    rr = np.full(300, 0.8) + rng.normal(0, 0.01, 300)
    rr[::5] *= rng.uniform(0.45, 0.75, rr[::5].size)
    times = 1.0 + np.cumsum(rr)
    fs = feat.INPUT_FS
    t = np.arange(int((times[-1] + 1.0) * fs)) / fs
    x = np.zeros(t.size)
    for r in times:
        near = np.abs(t - r) < 0.5
        d = t[near] - r
        x[near] += 1000 * np.exp(-0.5 * (d / 0.012) ** 2) + 120 * np.exp(
            -0.5 * ((d + 0.16) / 0.02) ** 2
        )
        x[near] += 250 * np.exp(-0.5 * ((d - 0.28) / 0.05) ** 2)
    x += 20 * rng.normal(size=x.size)
    wave, context = feat.featurize(filter_ecg(x, fs), np.round(times * fs).astype(np.int64))
    names = list(feat.RR_FEATURES)
    fires = (
        (
            context[:, names.index("log_rr_pre_over_normal")]
            < np.log(rule["rr_pre_over_usual_below"])
        )
        & (context[:, names.index("rr_irregularity")] < rule["irregularity_below"])
        & (context[:, names.index("qrs_corr")] > rule["qrs_corr_above"])
    )
    pred = model.predict(wave, context).argmax(1)
    n_or_s = pred <= 1
    assert fires[n_or_s].sum() >= 20 and (~fires[n_or_s]).sum() >= 100
    np.testing.assert_array_equal(pred[n_or_s] == 1, fires[n_or_s])
