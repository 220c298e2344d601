"""Matching detected beats to reference beats and scoring their classes (AAMI EC57 style).

Used by scripts/evaluate_beats.py, scripts/train.py and the data-backed tests, so
they all count the same way: a reference beat and a detection pair up when they are
within the match window (one to one, closest pairs first); an unmatched reference
beat is missed for its class, an unmatched detection is a false positive of the
class it was given.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from monitor.classify.beat import BEAT_CLASSES

MISSED = len(BEAT_CLASSES)
"""Column of the confusion matrix for reference beats that were never detected."""
EXTRA = len(BEAT_CLASSES)
"""Row of the confusion matrix for detections that match no reference beat."""


def match_beats(reference: np.ndarray, detected: np.ndarray, tolerance: int) -> np.ndarray:
    """For each reference beat, the index of its matched detection or -1.

    Both arrays are ascending sample indices at the same rate; `tolerance` is the
    largest allowed distance in samples. Pairs are formed closest first, one to one.
    """
    reference = np.asarray(reference, dtype=np.int64)
    detected = np.asarray(detected, dtype=np.int64)
    out = np.full(reference.size, -1, dtype=np.int64)
    if reference.size == 0 or detected.size == 0:
        return out
    j = np.searchsorted(detected, reference)
    refs, dets = [], []
    for k in (j - 1, j):
        ok = (k >= 0) & (k < detected.size)
        refs.append(np.flatnonzero(ok))
        dets.append(k[ok])
    r = np.concatenate(refs)
    d = np.concatenate(dets)
    dist = np.abs(detected[d] - reference[r])
    keep = dist <= tolerance
    r, d, dist = r[keep], d[keep], dist[keep]
    order = np.argsort(dist, kind="stable")
    used = np.zeros(detected.size, dtype=bool)
    for i in order:
        if out[r[i]] < 0 and not used[d[i]]:
            out[r[i]] = d[i]
            used[d[i]] = True
    return out


def confusion(ref_labels: np.ndarray, det_labels: np.ndarray, match: np.ndarray) -> np.ndarray:
    """(classes+1) x (classes+1) counts: rows reference (last = extra detection),
    columns predicted (last = missed)."""
    k = len(BEAT_CLASSES)
    cm = np.zeros((k + 1, k + 1), dtype=np.int64)
    ref_labels = np.asarray(ref_labels, dtype=np.int64)
    det_labels = np.asarray(det_labels, dtype=np.int64)
    matched = match >= 0
    np.add.at(cm, (ref_labels[matched], det_labels[match[matched]]), 1)
    np.add.at(cm, (ref_labels[~matched], np.full(int((~matched).sum()), MISSED)), 1)
    extra = np.ones(det_labels.size, dtype=bool)
    extra[match[matched]] = False
    np.add.at(cm, (np.full(int(extra.sum()), EXTRA), det_labels[extra]), 1)
    return cm


@dataclass(frozen=True)
class ClassScore:
    label: str
    se: float
    ppv: float
    f1: float
    support: int


def class_scores(cm: np.ndarray) -> list[ClassScore]:
    """Per-class sensitivity, positive predictivity and F1 in percent from `confusion`.

    Missed beats count against Se of their class, extra detections against +P of the
    class they were given.
    """
    scores = []
    for c, label in enumerate(BEAT_CLASSES):
        tp = cm[c, c]
        support = cm[c, :].sum()
        predicted = cm[:, c].sum()
        se = 100.0 * tp / support if support else float("nan")
        ppv = 100.0 * tp / predicted if predicted else float("nan")
        f1 = 2 * se * ppv / (se + ppv) if support and predicted and se + ppv > 0 else 0.0
        scores.append(ClassScore(label, float(se), float(ppv), float(f1), int(support)))
    return scores


def accuracy(cm: np.ndarray) -> float:
    """Correct / (all reference beats + extra detections), in percent."""
    k = len(BEAT_CLASSES)
    return float(100.0 * np.trace(cm[:k, :k]) / max(1, cm.sum()))


def macro_f1(cm: np.ndarray, classes: tuple[str, ...] = ("N", "S", "V", "F")) -> float:
    """Mean F1 over `classes` (Q is left out by default: DS2 holds a handful of Q beats)."""
    by = {s.label: s.f1 for s in class_scores(cm)}
    return float(np.mean([by[c] for c in classes]))
