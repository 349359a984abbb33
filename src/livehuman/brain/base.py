"""The Brain interface: a conversation that speaks the OpenAI Realtime protocol (GA event names)."""

from __future__ import annotations

from typing import AsyncIterator, Protocol, runtime_checkable


@runtime_checkable
class Brain(Protocol):
    """One conversation. Client events go in with `send`; server events come out of `events`.

    Client events: session.update, input_audio_buffer.append/commit/clear,
    conversation.item.create, conversation.item.truncate, response.create, response.cancel.
    Server events: session.created/updated, input_audio_buffer.speech_started/speech_stopped/
    committed, conversation.item.added/done, conversation.item.input_audio_transcription.delta/
    completed, response.created, response.output_item.added, response.content_part.added,
    response.output_audio.delta (base64 PCM16 24 kHz), response.output_audio_transcript.delta/done,
    response.output_audio.done, response.output_text.delta, response.done, error, …

    A brain may also emit livehuman's own in-process events (type "livehuman.…", see
    brain/events.py): exact phone timings for its audio, and short notices for the user.
    The /v1/realtime server never forwards those.
    """

    async def send(self, event: dict) -> None:
        """Hand the brain one client event (a dict in the protocol's JSON shape)."""

    def events(self) -> AsyncIterator[dict]:
        """The server events, in order; ends when the brain is closed. One consumer only."""

    async def close(self) -> None:
        """Stop all work and end `events()`."""
