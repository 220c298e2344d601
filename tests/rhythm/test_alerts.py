"""Alerts: minimum duration, debouncing (no storms), severity and escalation."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.classify.alerts import DEFAULT_POLICIES, AlertManager
from monitor.classify.rhythm import EPISODE_KINDS, Episode, Evidence


def ep(kind: str, start: float, end: float, ident: str = "x", final: bool = True,
       measure: float | None = None) -> Episode:
    return Episode(ident, kind, start, end, 1.0, Evidence(measure=measure), final=final)


def test_short_episode_does_not_alert_and_couplets_never_do() -> None:
    alerts = AlertManager().process([ep("af", 0, 20), ep("couplet", 30, 31), ep("brady", 40, 50)])
    assert alerts == []


def test_recurrent_episodes_raise_one_alert_until_quiet() -> None:
    manager = AlertManager()
    events = [ep("pause", t, t + 2.5, f"p{t}") for t in range(0, 300, 20)]
    alerts = manager.process(events)
    assert len(alerts) == 1
    rearm = DEFAULT_POLICIES["pause"].rearm_s
    later = manager.process([ep("pause", 300 + rearm, 303 + rearm, "late")])
    assert len(later) == 1


def test_escalation_alerts_once_inside_the_quiet_period() -> None:
    manager = AlertManager()
    alerts = manager.process([
        ep("pause", 0, 2.4, "a", measure=2.4),
        ep("pause", 10, 13.5, "b", measure=3.5),
        ep("pause", 20, 24, "c", measure=4.0),
    ])
    assert [a.severity for a in alerts] == ["warning", "critical"]


def test_unreadable_never_alerts() -> None:
    e = Episode("u", "unreadable", 0, 600, 1.0, reason="flat line (leads off?)")
    assert AlertManager().process([e]) == []


episode_strategy = st.builds(
    lambda kind, start, length, final, measure: ep(kind, start, start + length, f"{kind}{start}",
                                                   final, measure),
    st.sampled_from(EPISODE_KINDS), st.floats(0, 7200), st.floats(0, 120), st.booleans(),
    st.one_of(st.none(), st.floats(20, 200)),
)


@settings(max_examples=200, deadline=None)
@given(events=st.lists(episode_strategy, max_size=80), cut=st.integers(0, 80))
def test_no_alert_storms_and_chunking_does_not_matter(events: list[Episode], cut: int) -> None:
    events.sort(key=lambda e: e.end_s)
    alerts = AlertManager().process(events)
    split = AlertManager()
    assert split.process(events[:cut]) + split.process(events[cut:]) == alerts
    # Per kind: a second alert needs either an escalation or a quiet rearm period, so
    # alerts of one kind and level are at least rearm_s apart whatever the input.
    levels = {"info": 0, "warning": 1, "critical": 2}
    for kind in {a.kind for a in alerts}:
        same = [a for a in alerts if a.kind == kind]
        rearm = DEFAULT_POLICIES[kind].rearm_s
        for a, b in itertools.pairwise(same):
            assert levels[b.severity] > levels[a.severity] or b.raised_s - a.raised_s >= rearm
    assert all(a.kind not in ("couplet", "unreadable") for a in alerts)
