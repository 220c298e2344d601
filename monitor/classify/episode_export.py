"""Episodes as files: WFDB rhythm annotations like MIT-BIH's, and JSON lines.

MIT-BIH marks each change of rhythm with a ``+`` annotation whose ``aux_note`` names
the new rhythm (``(AFIB``, ``(N``, ...). Episodes can overlap (AF with a fast rate,
a VT run inside bigeminy), so they are flattened into one rhythm track: at every
moment the most important ongoing episode names the rhythm, and ``(N`` (no finding)
fills the rest. Short events without a rhythm label of their own (pauses) get a
``+`` with ``(PAUSE`` and ``(N`` after them; couplets appear only in the JSON lines.
Unreadable stretches are ``(UNREAD`` with the reason in the JSON lines.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from monitor.classify.rhythm import Episode

RHYTHM_NOTE: dict[str, str] = {
    "unreadable": "(UNREAD",
    "vf": "(VFL",
    "vt": "(VT",
    "nsvt": "(VT",
    "triplet": "(VT",
    "pause": "(PAUSE",
    "af": "(AFIB",
    "svt": "(SVTA",
    "bigeminy": "(B",
    "trigeminy": "(T",
    "tachy": "(TACHY",
    "brady": "(SBR",
}
"""Episode kind -> aux_note, in priority order (first wins where episodes overlap)."""
NORMAL_NOTE = "(N"


def rhythm_track(episodes: Sequence[Episode]) -> list[tuple[float, str]]:
    """(time_s, aux_note) at every change of the flattened rhythm, from time 0."""
    priority = {kind: i for i, kind in enumerate(RHYTHM_NOTE)}
    spans = [e for e in episodes if e.final and e.kind in RHYTHM_NOTE]
    bounds = sorted({0.0, *(e.start_s for e in spans), *(e.end_s for e in spans)})
    track: list[tuple[float, str]] = []
    for t in bounds:
        ongoing = [e for e in spans if e.start_s <= t < e.end_s]
        note = (RHYTHM_NOTE[min(ongoing, key=lambda e: priority[e.kind]).kind]
                if ongoing else NORMAL_NOTE)
        if not track or track[-1][1] != note:
            track.append((t, note))
    return track


def rhythm_annotations(episodes: Sequence[Episode], fs: float, n_samples: int
                       ) -> list[tuple[int, str, str]]:
    """(sample, '+', aux_note) rhythm annotations at the recording's rate."""
    out: list[tuple[int, str, str]] = []
    for t, note in rhythm_track(episodes):
        sample = min(max(0, round(t * fs)), max(0, n_samples - 1))
        if out and out[-1][0] == sample:
            out[-1] = (sample, "+", note)
        else:
            out.append((sample, "+", note))
    return out


def episode_record(episode: Episode, fs: float) -> dict[str, object]:
    """One JSON-serialisable line for a finished episode."""
    return {
        "kind": episode.kind,
        "start_s": round(episode.start_s, 3),
        "end_s": round(episode.end_s, 3),
        "start_sample": round(episode.start_s * fs),
        "end_sample": round(episode.end_s * fs),
        "confidence": episode.confidence,
        "reason": episode.reason,
        "evidence": {
            "beat_indices_130hz": list(episode.evidence.beat_indices),
            "rr_s": list(episode.evidence.rr_s),
            "measure": episode.evidence.measure,
        },
    }


def write_episodes_jsonl(episodes: Iterable[Episode], fs: float, path: Path) -> int:
    """Write one line per finished episode; return how many."""
    n = 0
    with path.open("w") as handle:
        for episode in episodes:
            if episode.final:
                handle.write(json.dumps(episode_record(episode, fs)) + "\n")
                n += 1
    return n
