"""Brains for `--brain openai` (OpenAI's Realtime API) and `--brain realtime` (any compatible server)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

from livehuman.brain.client import DEFAULT_MODEL, DEFAULT_TRANSCRIPTION_MODEL, DEFAULT_VOICE, RealtimeBrain
from livehuman.errors import LivehumanError

API_KEY_ENV = "OPENAI_API_KEY"
NOISE_REDUCTIONS = ("near_field", "far_field")
EAGERNESS = ("low", "medium", "high", "auto")


def turn_detection(kind: str = "server_vad", *, threshold: float | None = None,
                   silence_ms: int | None = None, prefix_ms: int | None = None,
                   eagerness: str | None = None) -> dict | None:
    """The session's turn_detection from CLI-style options ("server_vad", "semantic_vad" or "none")."""
    if kind in ("none", "manual", None):
        return None
    if kind == "server_vad":
        td: dict[str, Any] = {"type": "server_vad"}
        if threshold is not None:
            if not 0.0 < threshold < 1.0:
                raise LivehumanError(f"--vad-threshold must lie between 0 and 1, got {threshold}")
            td["threshold"] = float(threshold)
        if silence_ms is not None:
            td["silence_duration_ms"] = int(silence_ms)
        if prefix_ms is not None:
            td["prefix_padding_ms"] = int(prefix_ms)
        return td
    if kind == "semantic_vad":
        td = {"type": "semantic_vad"}
        if eagerness is not None:
            if eagerness not in EAGERNESS:
                raise LivehumanError(f"--eagerness must be one of {', '.join(EAGERNESS)}, got {eagerness!r}")
            td["eagerness"] = eagerness
        return td
    raise LivehumanError(f"unknown turn detection {kind!r}: use server_vad, semantic_vad or none")


def openai_brain(
    persona: Any = None,
    *,
    api_key: str | None = None,
    model: str = DEFAULT_MODEL,
    realtime_url: str | None = None,
    voice: str | None = None,
    instructions: str | None = None,
    turn: dict | None | str = "server_vad",
    transcription_model: str | None = DEFAULT_TRANSCRIPTION_MODEL,
    noise_reduction: str | None = None,
    speed: float | None = None,
    natural_voice: bool | None = None,
) -> RealtimeBrain:
    """A Brain on OpenAI's Realtime API (or Azure/a proxy at `realtime_url`), key from OPENAI_API_KEY.

    The persona gives the instructions (its espeak-ng voice means nothing to OpenAI: pass `voice`
    for one of OpenAI's voices, "marin" by default). `natural_voice`: whether the voice sounds like a
    person's, for the lip sync (default True: OpenAI's voices do).
    """
    api_key = api_key or os.environ.get(API_KEY_ENV)
    if not api_key:
        raise LivehumanError(f"--brain openai needs an API key: set {API_KEY_ENV} in the environment")
    if noise_reduction is not None and noise_reduction not in NOISE_REDUCTIONS:
        raise LivehumanError(f"noise reduction must be one of {', '.join(NOISE_REDUCTIONS)}, got {noise_reduction!r}")
    if speed is not None and not 0.25 <= speed <= 1.5:
        raise LivehumanError(f"--speed must lie within 0.25..1.5, got {speed}")
    if instructions is None and persona is not None:
        system_prompt = getattr(persona, "system_prompt", None)
        instructions = system_prompt() if callable(system_prompt) else getattr(persona, "instructions", None)
    return RealtimeBrain(
        api_key, model, websocket_base_url=_check_url(realtime_url) if realtime_url else None,
        voice=voice or DEFAULT_VOICE, instructions=instructions, turn_detection=turn,
        transcription_model=transcription_model, noise_reduction=noise_reduction, speed=speed,
        natural_voice=True if natural_voice is None else natural_voice,
    )


def realtime_brain(realtime_url: str, persona: Any = None, *, model: str = "livehuman",
                   api_key: str | None = None, **options: Any) -> RealtimeBrain:
    """A Brain on any Realtime-compatible server at `realtime_url` (e.g. ws://host:8080/v1).

    The key, if any, comes from `api_key` or OPENAI_API_KEY; local servers need none. Its voice is
    taken for a synthesizer's (livehuman's own server speaks espeak-ng's) unless `natural_voice`.
    """
    key = api_key or os.environ.get(API_KEY_ENV) or "none"
    if options.get("natural_voice") is None:
        options["natural_voice"] = False
    return openai_brain(persona, api_key=key, model=model, realtime_url=realtime_url, **options)


def _check_url(url: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme not in ("ws", "wss", "http", "https") or not parsed.netloc:
        raise LivehumanError(f"--realtime-url must look like ws://host:port/v1 or wss://…/v1, got {url!r}")
    # The SDK appends /realtime itself: accept the endpoint's full URL too.
    path = parsed.path.rstrip("/")
    if path.endswith("/realtime"):
        url = parsed._replace(path=path[: -len("/realtime")]).geturl()
    return url


def remote_brain_factory(kind: str = "openai", *, model: str | None = None, voice: str | None = None,
                         realtime_url: str | None = None, persona: Any = None,
                         **options: Any) -> Callable[..., RealtimeBrain]:
    """A factory of brains for `serve --brain openai|realtime`, checked now (key, URL), not per session.

    `persona` is a Persona or a persona file's path. Each call (one per session) opens its own
    Realtime session; `options` go to `openai_brain` (instructions, turn, noise_reduction, speed…).
    """
    if isinstance(persona, (str, os.PathLike)):
        from livehuman.brain.persona import load_persona

        persona = load_persona(persona)
    if kind == "openai":
        kwargs = dict(model=model or DEFAULT_MODEL, realtime_url=realtime_url, voice=voice, **options)
        openai_brain(persona, **kwargs)  # fail fast on a missing key or a bad option
        return lambda *_request: openai_brain(persona, **kwargs)
    if kind == "realtime":
        if not realtime_url:
            raise LivehumanError("--brain realtime needs --realtime-url ws://HOST:PORT/v1")
        kwargs = dict(model=model or "livehuman", voice=voice, **options)
        realtime_brain(realtime_url, persona, **kwargs)
        return lambda *_request: realtime_brain(realtime_url, persona, **kwargs)
    raise LivehumanError(f"unknown remote brain {kind!r}: use openai or realtime")
