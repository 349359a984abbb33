"""What `/healthz`, `/readyz` and `/stats` say about a server: plain functions of its state.

- `/healthz` (public): the process answers. Counts only: who talks to the avatar is nobody's
  business but the operator's.
- `/readyz` (public): a new session can start now: the models are warm, the server is not
  shutting down, and a place is free. 503 with the reason otherwise, so a load balancer sends the
  next visitor elsewhere.
- `/stats` (guarded like every other route: the token when there is one): each session's media
  clock counters by session id (`livehuman bench live` reads them).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any


def health(sessions: int, max_sessions: int) -> dict:
    """The liveness answer: counts, never ids."""
    return {"ok": True, "sessions": sessions, "max_sessions": max_sessions}


def readiness(*, warm: bool, closing: bool, active: int, max_sessions: int) -> tuple[int, dict]:
    """(HTTP status, body) of the readiness answer; `active` counts the places taken."""
    reason = None
    if closing:
        reason = "the server is shutting down"
    elif not warm:
        reason = "the models are still loading"
    elif active >= max_sessions:
        reason = f"every place is taken ({active} of {max_sessions} conversations)"
    body = {"ready": reason is None, "sessions": active, "max_sessions": max_sessions}
    if reason is not None:
        body["reason"] = reason
    return (200 if reason is None else 503), body


def stats(sessions: dict[str, Any], max_sessions: int) -> dict:
    """Counts, and each session's media clock counters by session id."""
    media = {sid: asdict(session.clock.stats) for sid, session in sessions.items()}
    return {**health(len(sessions), max_sessions), "media": media}
