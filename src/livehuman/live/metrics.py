"""`GET /metrics`: a server's figures in the Prometheus text format (prometheus_client).

Counted here as they happen: offers by result, sessions started, /v1/realtime errors by code and
refused connections. Read at each scrape: from the sessions, sessions active, turns, barge-ins,
errors, frames sent and dropped, and each turn's latency (end of the user's speech to the reply's
first audio and first frame); from the server's worker pools, worker processes restarted. What an ended session counted is folded into totals when it ends,
so that counters never go back. Each server has its own registry: no global state.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

# Seconds from the end of the user's speech; a conversation feels live under about one.
LATENCY_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
# The media clock's counters (live/clock.py ClockStats) exported, and what each is called here.
CLOCK_FIGURES = {
    "frames": ("livehuman_video_frames", "Video frames sent (their rate is the fps each session gets)"),
    "dropped_frames": ("livehuman_video_frames_dropped", "Video frames dropped: the video track did not take them in time"),
    "dropped_packets": ("livehuman_audio_packets_dropped", "Audio packets dropped: the audio track did not take them in time"),
    "underruns": ("livehuman_reply_underruns", "Idle frames in the middle of a reply: rendering fell behind"),
    "late_ticks": ("livehuman_clock_late_ticks", "Media clock ticks that ran more than one packet late"),
}
CONTENT_TYPE = CONTENT_TYPE_LATEST


class LiveMetrics:
    """The figures of one LiveServer; `sessions()` gives its live sessions at each scrape.

    Call `offer(status)` for each answer to /offer, `realtime_event(event)` for each event
    /v1/realtime sends, and `session_ended(session)` once for each session as it goes.
    """

    def __init__(self, sessions: Callable[[], Iterable[Any]], realtime_connections: Callable[[], int] = lambda: 0,
                 workers: Callable[[], Iterable[Any]] = tuple):
        self._sessions = sessions
        self._realtime_connections = realtime_connections
        self._workers = workers  # what holds worker processes: each has `worker_kind` and `restarts`
        self.registry = CollectorRegistry()
        self.offers = Counter("livehuman_offers", "Answers to POST /offer by result: answered, busy, "
                              "refused (a bad offer), failed (the session could not start)", ["result"],
                              registry=self.registry)
        self.realtime_errors = Counter("livehuman_realtime_errors", "Error events /v1/realtime sent, by code "
                                       "(too_many_connections: a connection refused)", ["code"], registry=self.registry)
        self.latency = Histogram("livehuman_response_latency_seconds", "From the end of the user's speech to the "
                                 "reply's first audio (until=first_audio) and first video frame (until=first_frame)",
                                 ["until"], buckets=LATENCY_BUCKETS, registry=self.registry)
        # What ended sessions counted, and how far each live session's turns were observed.
        self._ended: Tally[str] = Tally()
        self._ended_errors: Tally[str] = Tally()
        self._observed: dict[str, int] = {}
        self.registry.register(_SessionFigures(self))

    def offer(self, status: int) -> None:
        result = {200: "answered", 503: "busy"}.get(status) or ("failed" if status >= 500 else "refused")
        self.offers.labels(result).inc()

    def realtime_event(self, event: dict) -> None:
        if event.get("type") == "error":
            self.realtime_errors.labels(str((event.get("error") or {}).get("code") or "none")).inc()

    def session_ended(self, session: Any) -> None:
        """Fold a session's figures into the totals: call it once, after `sessions()` has let it go."""
        self._observe_turns(session, final=True)
        self._observed.pop(session.id, None)
        self._ended.update(_counts(session))
        self._ended["sessions"] += 1
        self._ended_errors.update(getattr(session, "errors", {}) or {})

    def render(self) -> bytes:
        """The text exposition of every figure now."""
        for session in list(self._sessions()):  # before the histogram is read out
            self._observe_turns(session)
        return generate_latest(self.registry)

    # -- internals ------------------------------------------------------------------------------

    def _observe_turns(self, session: Any, final: bool = False) -> None:
        """Turn latencies not observed yet: a turn is done once it has its first frame, or once a
        later turn has begun (a reply cut before it played never gets one)."""
        turns = list(getattr(session, "turns", ()))
        start = self._observed.get(session.id, 0)
        i = start
        while i < len(turns):
            turn = turns[i]
            if turn.first_frame is None and i == len(turns) - 1 and not final:
                break  # still under way
            for until in ("first_audio", "first_frame"):
                mark = getattr(turn, until)
                if mark is not None:
                    self.latency.labels(until).observe(max(0.0, mark - turn.end))
            i += 1
        self._observed[session.id] = i


class _SessionFigures:
    """The collector that reads the live sessions at each scrape."""

    def __init__(self, metrics: LiveMetrics) -> None:
        self.metrics = metrics

    def collect(self):
        m = self.metrics
        live = list(m._sessions())
        totals = Tally(m._ended)
        errors = Tally(m._ended_errors)
        for session in live:
            totals.update(_counts(session))
            errors.update(getattr(session, "errors", {}) or {})
        active = GaugeMetricFamily("livehuman_sessions_active", "Live sessions (WebRTC) now")
        active.add_metric([], sum(1 for s in live if not getattr(s, "ending", False)))
        yield active
        realtime = GaugeMetricFamily("livehuman_realtime_connections", "Open /v1/realtime connections now")
        realtime.add_metric([], m._realtime_connections())
        yield realtime
        ended = CounterMetricFamily("livehuman_sessions_ended", "Live sessions that have ended")
        ended.add_metric([], m._ended["sessions"])
        yield ended
        for key, name, text in (("turns", "livehuman_turns", "Replies started: to speech, to text, or unasked"),
                                ("barge_ins", "livehuman_barge_ins", "Replies cut by the user (speech, text or interrupt)")):
            family = CounterMetricFamily(name, text)
            family.add_metric([], totals[key])
            yield family
        for key, (name, text) in CLOCK_FIGURES.items():
            family = CounterMetricFamily(name, text)
            family.add_metric([], totals[key])
            yield family
        restarts = CounterMetricFamily("livehuman_worker_restarts", "Worker processes started again after one "
                                       "died: render (the cpu engine's drawing), asr (the speech recognizers) and "
                                       "phones (the recognizers of a remote brain's replies' phones)",
                                       labels=["kind"])
        by_kind: Tally[str] = Tally()
        for holder in m._workers():
            by_kind[holder.worker_kind] += holder.restarts
        for kind in ("render", "asr", "phones"):
            restarts.add_metric([kind], by_kind[kind])
        yield restarts
        family = CounterMetricFamily("livehuman_session_errors", "Errors the live sessions reported, by kind "
                                     "(a brain error's code, or task_failed)", labels=["kind"])
        for kind, count in sorted(errors.items()):
            family.add_metric([kind], count)
        yield family


def _counts(session: Any) -> Tally[str]:
    counts: Tally[str] = Tally()
    counts["turns"] = len(getattr(session, "turns", ()))
    counts["barge_ins"] = len(getattr(session, "barge_ins", ()))
    clock = getattr(session, "clock", None)
    stats = getattr(clock, "stats", None)
    for key in CLOCK_FIGURES:
        counts[key] = int(getattr(stats, key, 0) or 0)
    return counts
