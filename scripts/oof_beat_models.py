"""Out-of-fold beat models for DS1: one student per patient-wise fold, for rhythm tuning.

    nice python scripts/oof_beat_models.py --data-dir ../shared/data/mitdb --out /tmp/ecgmon-oof

Why: the shipped classifier was trained on all of DS1, so on DS1 its labels are
in-sample and better than it will ever be on a new patient (V +P 92% on DS1 runs
against 33% elsewhere). A rhythm rule chosen on those labels never meets the false V
beats it has to survive. Each fold model here is the student scripts/train.py trains
in its cross-validation for the shipped recipe (labels only, same seed, epochs and
context normalisation), fitted on the other two folds' patients, with the shipped
model's class offsets and S rule put in its graph; `scripts/tune_rhythm.py --labels
oof --oof-dir OUT` labels each DS1 record with the model of the fold that held the
patient out, through the same runtime classifier path (features, ONNX session) as the
shipped model. The fold models are float32: the shipped int8 file differs from its
float32 twin in a few dozen of 51,355 DS1 beats (docs/MODEL.md), far below the
difference between in-sample and out-of-fold labels. On DS1's detected beats these
labels call V with Se 80.3 / +P 81.5 against 98.9 / 89.5 for the shipped model
(in-sample) and 90.3 / 84.5 for the shipped model on DS2 (docs/MODEL.md): trained on
two thirds of DS1, they err on the pessimistic side where in-sample labels err on the
optimistic one.

Needs the train extra (torch). A fold takes a few minutes on one thread.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import cast

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import beatdata
import train as tr

from monitor.classify.model import model_dir, write_metadata
from monitor.evaluation import DS1

SHIPPED = "beat-student-int8"


def fold_model_path(out: Path, k: int) -> Path:
    """Where fold k's model (held out: train.FOLDS[k]) is written."""
    return out / f"beat-oof-fold{k + 1}.onnx"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data/mitdb"))
    parser.add_argument("--out", type=Path, default=Path("/tmp/ecgmon-oof"))
    parser.add_argument("--cache-dir", type=Path, default=Path("/tmp/ecgmon-beat-cache"))
    parser.add_argument("--seed", type=int, default=20260407, help="train.py's --seed")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    start = time.time()
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    shipped = json.loads((model_dir() / f"{SHIPPED}.json").read_text())
    cv = shipped["training"]["cross_validation"]
    if cv.get("shipped_student") != "labels only":
        raise SystemExit("the shipped student is distilled: this script trains labels-only ones")
    epochs = int(cv["student_epochs"])
    offsets = np.asarray(cv["offsets_nokd"], dtype=np.float32)
    rule_doc = cv["rule_nokd"]

    records = beatdata.load(args.data_dir, DS1, args.cache_dir)
    data = tr.build_beats(records)
    columns = cast(tuple[int, int, int], tuple(data.names.index(f) for f in tr.RULE_FEATURES))
    rule = tr.SRule(
        rule_doc["rr_pre_over_usual_below"],
        rule_doc["irregularity_below"],
        rule_doc["qrs_corr_above"],
        columns,
    )
    # As train.py: the context is normalised by all of DS1's mean and spread.
    ctx_mean = data.context.mean(0)
    ctx_std = data.context.std(0) + 1e-3
    args.out.mkdir(parents=True, exist_ok=True)
    for k, fold in enumerate(tr.FOLDS):
        held = np.isin(data.record, fold)
        seed = args.seed + 20 + k  # train.py's "student (no KD)" of fold k
        model = tr.new_student(seed, ctx_mean, ctx_std)
        model = tr.train(model, data.subset(~held), epochs, seed, f"fold {k + 1}")
        model.offset.copy_(torch.from_numpy(offsets))
        model.rule = rule
        path = fold_model_path(args.out, k)
        tr.export_onnx(model, path)
        write_metadata(
            path,
            {
                "variant": "student-oof-fp32",
                "held_out": list(fold),
                "training": {
                    "records": [r for r in DS1 if r not in fold],
                    "seed": seed,
                    "epochs": epochs,
                    "offsets": offsets.tolist(),
                    "rule": rule.describe(),
                    "script": "scripts/oof_beat_models.py",
                },
            },
        )
        print(f"{path} (held out {' '.join(fold)}), {time.time() - start:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
