"""`livehuman render --brain openai|realtime|local`: the brain's spoken answer to one question, as Speech."""

from __future__ import annotations

import asyncio
from typing import Any

from livehuman.brain.answer import answer
from livehuman.errors import LivehumanError
from livehuman.speech.audio import Speech, is_silent, load_audio


def answer_speech(text: str | None = None, audio_path: str | None = None, *, brain: str = "openai",
                  realtime_url: str | None = None, model: str | None = None, voice: str | None = None,
                  persona: Any = None, knowledge: Any = None) -> Speech:
    """Ask the brain `text` (or the speech in `audio_path`) and return its whole spoken answer.

    `knowledge`: the local brain's knowledge base (a YAML or Markdown file; None: the built-in one).

    The answer is 24 kHz audio with its transcript as `text`; phones come only from the local brain.
    """
    if (text is None) == (audio_path is None):
        raise LivehumanError("--brain needs exactly one question: --text TEXT or --audio FILE")
    audio = None
    if audio_path is not None:
        audio = load_audio(audio_path)
        if is_silent(audio):
            raise LivehumanError(f"{audio_path} is silent: there is no question to answer")
    if knowledge is not None and brain != "local":
        raise LivehumanError("--knowledge is for the local brain (--brain local); a remote brain answers from its own")
    return asyncio.run(_ask(brain, text, audio, realtime_url, model, voice, persona, knowledge))


async def _ask(kind: str, text, audio, realtime_url, model, voice, persona, knowledge=None) -> Speech:
    if kind == "local":
        from livehuman.brain.local_factory import LocalBrainFactory

        brain = LocalBrainFactory(persona, knowledge, voice=voice)()
    else:
        from livehuman.brain.openai_brain import remote_brain_factory

        brain = remote_brain_factory(kind, model=model, voice=voice, realtime_url=realtime_url, persona=persona)()
    try:
        result = await answer(brain, text=text, audio=audio)
    finally:
        await brain.close()
    return result.speech
