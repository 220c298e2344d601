"""The rhythm layer as one streaming stage for a live strap: samples + beats in,
episode events and alerts out, with data gaps (reconnects) handled.

The daemon feeds every chunk of working-rate samples with the beats found in it; the
stage runs the signal-quality and VF stages on the samples, the rhythm analyzer on
their verdicts and the beats, and the alert manager on the episodes. A gap in the data
(the strap disconnected) is declared with `gap(seconds)`: the quality and VF filters
restart after it, the missing seconds become an ``unreadable`` episode ("no data"),
and nothing is derived across it.

Time is stream time in seconds: the samples fed so far plus the declared gaps. Beats
must carry stream time too (`stream_time_s` tells where the next sample lands; a QRS
detector restarted after a gap counts from there).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from monitor.classify.alerts import DEFAULT_POLICIES, Alert, AlertManager, AlertPolicy
from monitor.classify.atrial import AtrialActivity
from monitor.classify.beat import ClassifiedBeat
from monitor.classify.pause_check import GapActivity
from monitor.classify.rhythm import Episode, RhythmAnalyzer, RhythmConfig, atrial_pairs
from monitor.classify.vf import VfDetector
from monitor.signal import WORKING_FS
from monitor.signal.quality import QualitySecond, SignalQuality


@dataclass(frozen=True)
class StageOutput:
    """What one call decided: episode events (onsets and ends), alerts and verdicts."""

    episodes: list[Episode]
    alerts: list[Alert]
    quality: list[QualitySecond]


class RhythmStage:
    """Quality + VF + rhythm + alerts over one stream at an integer working rate."""

    def __init__(
        self,
        fs: float = WORKING_FS,
        config: RhythmConfig | None = None,
        policies: Mapping[str, AlertPolicy] | None = None,
    ) -> None:
        self.fs = float(fs)
        self._config = config
        self.analyzer = RhythmAnalyzer(config)
        self.alerts = AlertManager(dict(policies or DEFAULT_POLICIES))
        self._start_stages(offset_s=0)

    def _start_stages(self, offset_s: int) -> None:
        # The stages count seconds from the stream's own second after a gap, so
        # their verdicts are in stream time without a copy of each.
        self._quality = SignalQuality(self.fs, first_index=offset_s)
        self._vf = VfDetector(self.fs, first_index=offset_s)
        # atrial hook: P waves before each beat, from the samples (monitor.classify.atrial)
        self._atrial = AtrialActivity(self.fs, first_index=round(offset_s * self.fs))
        # pause hook: is the gap of a long interval quiet? (monitor.classify.pause_check)
        self._gaps = GapActivity(
            self.fs, self.analyzer.config.pause_s, first_index=round(offset_s * self.fs)
        )
        self._offset_s = offset_s
        self._run_samples = 0

    @property
    def stream_time_s(self) -> float:
        """Stream time of the next sample."""
        return self._offset_s + self._run_samples / self.fs

    def process(
        self,
        samples: np.ndarray,
        beats: Iterable[ClassifiedBeat] = (),
        filtered: np.ndarray | None = None,
    ) -> StageOutput:
        """Feed the next samples and the beats found so far (in stream time).

        filtered: optionally the samples through the runtime ECG filter, restarted
        with this stage after every gap (as the pipeline runs it): the quality stage
        then takes its 0.5-40 Hz band from it instead of filtering again (the same
        values). Give it with every call between gaps or with none.
        """
        x = np.asarray(samples, dtype=np.float64).ravel()
        self._run_samples += x.size
        self._atrial.feed(x)  # atrial hook
        self._gaps.feed(x)  # pause hook
        quality = self._quality.process(x, filtered)
        vf = self._vf.process(x)
        return self._analyse(beats, quality, vf, final=False)

    def gap(self, seconds: float, beats: Iterable[ClassifiedBeat] = ()) -> StageOutput:
        """The stream stops for `seconds` (a reconnect): settle what came before it."""
        quality = self._quality.flush()
        vf = self._vf.flush()
        out = self._analyse(beats, quality, vf, final=False)
        self._start_stages(math.ceil(self.stream_time_s + max(0.0, seconds)))
        return out

    def flush(self, beats: Iterable[ClassifiedBeat] = ()) -> StageOutput:
        """End of the stream: settle and close everything."""
        quality = self._quality.flush()
        vf = self._vf.flush()
        return self._analyse(beats, quality, vf, final=True)

    def _analyse(
        self, beats: Iterable[ClassifiedBeat], quality: list[QualitySecond], vf: list, final: bool
    ) -> StageOutput:
        beats = list(beats)
        atrial = atrial_pairs(self._atrial, beats)  # atrial hook
        gaps = self._gaps.measure(beats)  # pause hook
        events = self.analyzer.process(beats, quality, vf, atrial, gaps)
        if final:
            events += self.analyzer.flush()
        return StageOutput(events, self.alerts.process(events), quality)
