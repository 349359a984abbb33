"""The built-in offline brain: voice activity and recognition → dialogue → speech, as a typed Brain.

LocalBrain wires separate parts, each usable alone:

- Listener (listener.py): VAD and the recognizer over the user's 16 kHz audio, turn by turn;
- Responder (responder.py): the dialogue and the user's words it owes a reply;
- Speculator (speculation.py): the reply prepared while the user pauses, held until the turn ends;
- Reply (reply.py): one reply in flight, its text spoken sentence by sentence by the Speaker
  (speaker.py: espeak-ng, paced), as speech events.

It keeps the conversation's timing: turns, the reply in flight, what each reply said where (for
truncation). local_factory.py makes one per session, sharing the slow parts between sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from livehuman.brain.barge_in import BargeIn, BargeInRule, Overlap, backchannel
from livehuman.brain.base import RequestError, SessionSettings, TurnDetection
from livehuman.brain.events import new_id
from livehuman.brain.listener import Listener, Partial, Resumed, SpeechBegan, SpeechEnded
from livehuman.brain.recognizer import AsrPool, knowledge_asr
from livehuman.brain.reply import Reply, Said
from livehuman.brain.responder import Responder
from livehuman.brain.speaker import Speaker
from livehuman.brain.speculation import Speculation, Speculator, fork_dialogue
from livehuman.brain.turn_end import ModelTurns
from livehuman.brain.speech_events import (
    BrainError,
    InputCleared,
    Notice,
    ReplyAudio,
    ReplyHeld,
    ReplyResumed,
    ReplyTruncated,
    SpeechEvent,
    UserSpeechStarted,
    UserSpeechStopped,
    UserTranscriptDelta,
    UserTranscriptDone,
)
from livehuman.errors import LivehumanError
from livehuman.rates import LISTEN_RATE
from livehuman.speech.audio import StreamResampler

log = logging.getLogger(__name__)

# A reply still plays this long after its audio's own length: the client's buffers and drawing.
PLAYOUT_MARGIN_S = 0.5
# Speech that starts this soon after the user's turn ended, while the avatar answers it, is the
# user going on after a pause the brain took for the end (people pause 0.5-0.9 s mid-sentence to
# think, and now and then longer); later, they are answering what the avatar said.
GO_ON_MS = 1500


@dataclass(frozen=True)
class Answered:
    """The user's last turn and the reply to it, until the user speaks again: what they had said
    (`words`), where their speech ended (ms into the input), the reply's item, and a fork of the
    dialogue's state before the reply."""

    words: str
    end_ms: int
    reply_id: str
    before: Any


class LocalBrain:
    """The offline cascade as a Brain: server VAD, streaming ASR, dialogue and espeak-ng TTS.

    `dialogue` is a Dialogue, or `dialogue_factory` makes one (called in a worker thread: building
    one embeds its knowledge base); `tts` is any object with `.sentences(text) -> Iterator[Speech]`;
    `asr` a StreamingASR, or `asr_pool` lends one. Left out, each is built from the defaults on
    first use, off the event loop. `voice` (an espeak-ng voice) defaults to the dialogue's persona's.
    `pace_ahead_s` keeps the audio at most that far ahead of real time (None: as fast as it is
    made), so that a reply stays in flight while it plays and a barge-in cancels what is unsaid.
    `turn_detection` is the session's start (None: manual turns). With `speculate_ms`, once the
    user has paused that long (in model mode: at each pause judged, while it is judged) the reply
    is prepared but held (see speculation.py). With
    `model_turns` (turn_end.py) a VAD turn ends when the end-of-turn model and the user's words say
    it is complete, not after the fixed silence. `barge_in` (barge_in.py) judges a sound heard while
    a reply is in flight or playing before it stops the reply; None: any speech stops it at once.
    A player that can pause the reply sets `holds_replies`: such a sound then holds the reply at once
    (ReplyHeld) and is judged whole before it stops it or lets it play on (ReplyResumed).

    Everything runs on the event loop of its first call except the blocking work (VAD and
    recognizer, building the dialogue, text-to-speech), which runs in worker threads.
    """

    input_rate = LISTEN_RATE
    reads_emotion = True  # the dialogue reads the user's emotion in their words itself (dialogue.py)

    def __init__(
        self,
        dialogue: Any = None,
        *,
        dialogue_factory: Callable[[], Any] | None = None,
        voice: str | None = None,
        tts: Any = None,
        asr: Any = None,
        asr_pool: AsrPool | None = None,
        asr_model_dir: str | None = None,
        instructions: str | None = None,
        pace_ahead_s: float | None = None,
        turn_detection: TurnDetection | None = TurnDetection(),
        speculate_ms: int | None = None,
        model_turns: ModelTurns | None = None,
        notice: str | None = None,
        barge_in: BargeInRule | None = BargeInRule(),
    ) -> None:
        persona = getattr(dialogue, "persona", None)
        self._notice = notice  # told the user first, once (languages.hearing_notice)
        if persona is None and dialogue_factory is None:
            from livehuman.brain.persona import load_persona

            persona = load_persona()
        voice = voice or getattr(persona, "voice", None) or "en-us"
        if instructions is None:
            instructions = getattr(persona, "instructions", None)
        self.settings = SessionSettings(instructions=instructions or "", voice=voice, turn_detection=turn_detection)
        self.responder = Responder(dialogue, dialogue_factory, instructions)
        self.speaker = Speaker(tts, voice)
        self.speculator = Speculator(self.speaker)
        self.speculate_ms = speculate_ms

        def recognizer() -> Any:
            if asr is not None:
                return asr
            if asr_pool is not None:
                return asr_pool.acquire()
            return knowledge_asr(getattr(self.responder.ensure(), "knowledge", None), asr_model_dir)

        self.listener = Listener(recognizer, asr_pool.release if asr_pool is not None else None,
                                 turn_detection, pause_ms=speculate_ms, model_turns=model_turns,
                                 on_pause=self._paused if speculate_ms is not None else None)
        self.pace_ahead_s = pace_ahead_s
        self.barge_in = barge_in
        self.holds_replies = False  # the player pauses a reply on ReplyHeld (the live session does)
        self.overlaps = {"interrupted": 0, "ignored": 0, "held": 0}  # sounds heard while speaking, and what they did
        self._overlap: Overlap | None = None  # such a sound, not yet judged an interruption
        self._playing_until = 0.0  # monotonic time the reply audio sent so far ends playing (about)
        self.turn_latencies: list[float] = []  # speech stopped → first reply audio, seconds
        self._out: asyncio.Queue[SpeechEvent | None] = asyncio.Queue()
        self._in: asyncio.Queue[tuple] = asyncio.Queue()
        self._worker: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the input task's, which the listener's thread calls back
        self._closed = False
        self._prepared = False  # the recognizer, VAD and voice are built
        self._resamplers: dict[int, StreamResampler] = {}
        self._speaking_item: str | None = None
        self._partial = ""
        self._stopped_at: float | None = None  # monotonic time the last turn ended
        self._response: Reply | None = None
        self._said: dict[str, Said] = {}  # reply item → what it said where
        self._replies = 0  # assistant items in the conversation (greet only before the first)
        self._last_assistant: str | None = None  # the latest reply, the one truncation may cut in the history
        self._answered: Answered | None = None  # the last turn answered, which the user may go on with
        self._earlier = ""  # the words of the turn the user is going on with
        self.went_on = 0  # turns the user went on with after the avatar began to answer them

    @property
    def dialogue(self) -> Any:
        """The Dialogue behind this brain (None until first needed)."""
        return self.responder.dialogue

    @property
    def speculations(self) -> dict[str, int]:
        """How prepared replies fared: used, missed, discarded."""
        return self.speculator.counts

    # -- commands ----------------------------------------------------------------------------

    async def update(self, settings: SessionSettings) -> None:
        if self._closed:
            return
        if settings.voice and settings.voice != self.settings.voice:
            await asyncio.to_thread(self.speaker.set_voice, settings.voice)
        if settings.turn_detection != self.settings.turn_detection:
            await self._in.put(("turn", settings.turn_detection))
            self._start()
        if settings.instructions and settings.instructions != self.settings.instructions:
            self.responder.set_instructions(settings.instructions)
        self.settings = settings

    async def push_audio(self, samples: np.ndarray, rate: int) -> None:
        if self._closed:
            return
        self._start()
        await self._in.put(("audio", samples, rate))

    async def commit_audio(self) -> None:
        if self._closed:
            return
        self._start()
        done = asyncio.get_running_loop().create_future()
        await self._in.put(("commit", done))
        await done

    async def clear_audio(self) -> None:
        if self._closed:
            return
        self._start()
        await self._in.put(("clear",))

    async def add_message(self, text: str, role: str = "user", item_id: str | None = None) -> None:
        if role == "user":
            self.responder.heard(text)
        elif role == "assistant":
            await asyncio.to_thread(self.responder.ensure)
            self.responder.replayed(text)
            self._replies += 1
        elif role == "system":
            await asyncio.to_thread(self.responder.ensure)
            self.responder.set_instructions(text)
        else:
            raise RequestError(f"unknown role {role!r}: use user, assistant or system", param="item.role")

    async def respond(self, audio: bool | None = None) -> None:
        if self._response is not None:
            raise RequestError(f"conversation already has an active response {self._response.id}",
                               code="conversation_already_has_active_response")
        if self._closed:
            return
        self._start()
        self._start_response(self.settings.audio if audio is None else audio)

    async def say(self, text: str) -> None:
        """Speak `text` verbatim as a reply (a greeting, a notice); it cancels the reply in flight
        and joins the dialogue's history."""
        if not text.strip():
            raise LivehumanError("nothing to say: the text is empty")
        self._start()
        await self._cancel("client_cancelled")
        self._start_response(self.settings.audio, script=text.strip())

    async def cancel(self) -> None:
        if self._response is None:
            raise RequestError("there is no active response to cancel", code="response_cancel_not_active")
        await self._cancel("client_cancelled")

    async def truncate(self, item_id: str, audio_end_ms: int) -> None:
        said = self._said.get(item_id)
        if said is None:
            raise RequestError(f"no reply with audio has id {item_id!r}", code="item_not_found", param="item_id")
        if audio_end_ms < 0 or audio_end_ms > said.audio_ms + 1:
            raise RequestError(f"audio_end_ms {audio_end_ms} is past the item's audio ({int(said.audio_ms)} ms)",
                               param="audio_end_ms")
        self._playing_until = 0.0  # the client stopped playing it there
        if self._response is not None and self._response.item_id == item_id:
            await self._cancel("client_cancelled")
        heard = said.heard(audio_end_ms)
        if item_id == self._last_assistant:
            self.responder.truncate_last_reply(heard)
        self._emit(ReplyTruncated(item_id, int(audio_end_ms), heard))

    async def interrupt(self, item_id: str | None, heard_ms: float | None) -> None:
        self._playing_until = 0.0  # the client stopped playing
        # Only the reply cut short: a held reply's barge-in reaches the player after the sound has
        # been judged whole, when this brain may already be answering it.
        if self._response is not None and item_id in (None, self._response.item_id):
            await self._cancel("client_cancelled")
        said = self._said.get(item_id) if item_id is not None else None
        if said is not None and heard_ms is not None:
            await self.truncate(item_id, int(max(0.0, min(float(heard_ms), said.audio_ms))))

    async def events(self) -> AsyncIterator[SpeechEvent]:
        """The brain's speech events until `close()`."""
        self._start()
        if self._notice:
            yield Notice(self._notice, "info")
            self._notice = None
        while (event := await self._out.get()) is not None:
            yield event

    async def close(self) -> None:
        """Cancel the reply in flight and the input worker; give the recognizer back; end `events()`."""
        if self._closed:
            return
        self._closed = True
        self.speculator.discard(None)
        tasks = [t for t in (self._worker, self._response and self._response.task) if t]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):  # tasks end however they end
                await task
        while not self._in.empty():  # commands never taken: their callers stop waiting
            op = self._in.get_nowait()
            if op[0] == "commit" and not op[1].done():
                op[1].set_result(None)
        await asyncio.to_thread(self.listener.close)
        self._out.put_nowait(None)

    def _emit(self, event: SpeechEvent) -> None:
        if isinstance(event, ReplyAudio):  # played back to back, from when it is sent
            self._playing_until = max(self._playing_until, time.monotonic()) + event.duration_ms / 1000
        self._out.put_nowait(event)

    # -- the user's side: one input task takes audio and turn commands in order -------------------

    def _start(self) -> None:
        if self._worker is None and not self._closed:
            self._loop = asyncio.get_running_loop()
            self._worker = self._loop.create_task(self._input_loop())

    async def _input_loop(self) -> None:
        while True:
            ops = [await self._in.get()]
            while not self._in.empty():  # take what piled up while the last batch ran
                ops.append(self._in.get_nowait())
            audio: list[tuple[np.ndarray, int]] = []
            for i, op in enumerate(ops):
                if op[0] == "audio":
                    audio.append(op[1:])
                    # One thread hop for a run of 20 ms chunks, not one per chunk.
                    if i + 1 < len(ops) and ops[i + 1][0] == "audio":
                        continue
                    op, audio = ("audio", audio), []
                await self._input_op(op)

    async def _input_op(self, op: tuple) -> None:
        try:
            match op:
                case ("audio", chunks):
                    await self._hear(chunks)
                case ("commit", done):
                    await self._commit(done)
                case ("clear",):
                    self.speculator.discard("discarded")
                    self._speaking_item = None
                    self._earlier = ""
                    self._drop_overlap()
                    await asyncio.to_thread(self.listener.clear)
                    self._emit(InputCleared())
                case ("turn", turn):
                    self.speculator.discard("discarded")
                    self._speaking_item = None
                    self._earlier = ""
                    self._drop_overlap()
                    self.listener.configure(turn)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # report it; the session goes on
            log.exception("local brain input failed")
            self._speaking_item = None
            self._emit(BrainError(f"speech input failed: {exc}"))
        finally:
            if op[0] == "commit" and not op[1].done():  # its caller must not wait for ever
                op[1].set_result(None)

    def _listen(self, chunks: list[tuple[np.ndarray, int]]) -> list:
        """Worker thread: the chunks at 16 kHz, through the listener (the parts built on first use)."""
        if not self._prepared:
            self.listener.prepare()
            self.speaker.load()  # ready before the first reply, not during it
            self._prepared = True
        return self._heard(self._samples(chunks))

    def _samples(self, chunks: list[tuple[np.ndarray, int]]) -> np.ndarray:
        """The chunks as one run of 16 kHz float32 samples."""
        samples = []
        for chunk, rate in chunks:
            if rate != LISTEN_RATE:
                resampler = self._resamplers.get(rate) or self._resamplers.setdefault(rate, StreamResampler(rate, LISTEN_RATE))
                chunk = resampler.process(chunk)
            samples.append(np.asarray(chunk, np.float32))
        return np.concatenate(samples)

    def _heard(self, audio: np.ndarray) -> list:
        """Worker thread: 16 kHz audio through the listener; an overlap takes the recognizer's words."""
        heard = self.listener.hear(audio)
        if (overlap := self._overlap) is not None:
            overlap.words = self.listener.hypothesis() or ""
        return heard

    async def _hear(self, chunks: list[tuple[np.ndarray, int]]) -> None:
        if self._overlap is None:
            events = await asyncio.to_thread(self._listen, chunks)
        else:
            # A sound over the reply is judged on this audio before the recognizer takes it, here
            # on the event loop (a few FFTs of 32 ms frames): on a busy machine pocketsphinx and
            # each thread hop fall behind the audio, and an interruption must not wait for them
            # (its words are the last batch's).
            audio = self._samples(chunks)
            self._overlap.judge.hear(audio)
            await self._judge_overlap()
            events = await asyncio.to_thread(self._heard, audio)
        for heard in events:
            match heard:
                case SpeechBegan(start_ms=start_ms, audio=audio) if self._overlapping():
                    # While the avatar speaks: judged before it stops anything (barge_in.py), from
                    # the VAD's start of speech on (not the prefix padding before it).
                    prefix = self.settings.turn_detection.prefix_padding_ms * LISTEN_RATE // 1000
                    judge = BargeIn(self.barge_in, audio[prefix:] if len(audio) > prefix else audio)
                    self._overlap = Overlap(new_id("item"), start_ms, judge)
                    await self._judge_overlap()  # a batch that piled up may hold an interruption already
                    partial = await asyncio.to_thread(self.listener.begin, audio) or ""
                    if self._overlap is not None:
                        self._overlap.partial = partial
                    else:
                        self._partial_transcript(partial)
                case SpeechBegan(start_ms=start_ms, audio=audio):
                    await self._speech_started(new_id("item"), start_ms, over_reply=self._answer_heard())
                    # The speech's first audio goes to the recognizer only after the start is out:
                    # a barge-in must not wait for pocketsphinx.
                    self._partial_transcript(await asyncio.to_thread(self.listener.begin, audio))
                case Partial(text=text) if self._overlap is not None:
                    self._overlap.partial = text
                case Partial(text=text):
                    self._partial_transcript(text)
                case Resumed():
                    self.speculator.discard("discarded")
                case SpeechEnded(end_ms=end_ms) if self._overlap is not None:
                    await self._overlap_ended(end_ms)
                case SpeechEnded(end_ms=end_ms):
                    await self._end_turn(end_ms)
        if self._overlap is not None:
            await self._judge_overlap()

    def _overlapping(self) -> bool:
        """Whether speech starting now would be heard over the avatar (a reply in flight, playing or held)."""
        if self.barge_in is None or self.settings.turn_detection is None:
            return False
        if self._overlap is not None and self._overlap.held_at is not None:
            return True
        return self._answer_heard()

    def _answer_heard(self) -> bool:
        """Whether a reply is in flight or its audio still playing."""
        return self._response is not None or time.monotonic() < self._playing_until + PLAYOUT_MARGIN_S

    async def _judge_overlap(self) -> None:
        """The sound heard over the avatar: an interruption by now (or the avatar has fallen silent)
        starts the user's turn as any speech does, from its start. With a player that holds, a
        sound that looks like speech holds the reply first."""
        overlap = self._overlap
        if self._overlapping():
            if self.holds_replies:
                verdict = overlap.judge.held_verdict()
                if verdict == "hold" and overlap.held_at is None:
                    overlap.held_at = time.monotonic()
                    self.overlaps["held"] += 1
                    self._emit(ReplyHeld())
            else:
                verdict = overlap.judge.verdict(overlap.words)
            if verdict != "interrupt":
                return
        await self._interrupted_by(overlap)

    async def _interrupted_by(self, overlap: Overlap) -> None:
        """The sound is the user's turn: it starts as any speech does, from its start."""
        self._overlap = None
        self.overlaps["interrupted"] += 1
        await self._speech_started(overlap.item_id, overlap.start_ms, over_reply=True)
        self._partial_transcript(overlap.partial)

    async def _overlap_ended(self, end_ms: int) -> None:
        """The sound ended before it proved an interruption: a cough, a knock, an "mm-hm". The
        avatar goes on; no turn, no reply; the recognizer forgets it. But a sound long enough that
        only its first words held it back ("is it…" heard as "yes") is a turn if its whole
        transcript is more than backchannel words: a question is never dropped for a misheard word.
        A held sound is judged by its whole transcript (BargeIn.interrupts)."""
        overlap = self._overlap
        transcript = await asyncio.to_thread(self.listener.finish)
        if overlap.held_at is not None:
            interrupts = overlap.judge.interrupts(transcript)
        else:
            interrupts = (overlap.judge.ripe and bool(transcript.strip())
                          and not backchannel(transcript, self.barge_in.backchannels))
        if interrupts:
            await self._interrupted_by(overlap)
            await self._end_turn(end_ms, transcript)
            return
        self._drop_overlap()
        self.overlaps["ignored"] += 1
        log.debug("local brain: ignored a sound over the reply (heard %r)", transcript)

    def _drop_overlap(self) -> None:
        """Forget the sound over the reply; a reply held for it plays on (and its playing time with it)."""
        overlap, self._overlap = self._overlap, None
        if overlap is not None and overlap.held_at is not None:
            self._playing_until += time.monotonic() - overlap.held_at
            self._emit(ReplyResumed())

    async def _speech_started(self, item_id: str, start_ms: int, over_reply: bool = False) -> None:
        """The user's turn starts (`over_reply`: while the avatar is saying a reply)."""
        self.speculator.discard("discarded")
        turn = self.settings.turn_detection
        interrupts = turn is None or turn.interrupt_response
        answered, self._answered = self._answered, None
        voice_ms = start_ms + (turn.prefix_padding_ms if turn is not None else 0)  # (start_ms is padded)
        if (over_reply and interrupts and answered is not None and answered.reply_id == self._last_assistant
                and voice_ms - answered.end_ms <= GO_ON_MS):
            self._go_on(answered)
        self._speaking_item = item_id
        self._partial = ""
        self._emit(UserSpeechStarted(item_id, start_ms))
        if self._response is not None and interrupts:
            await self._cancel("turn_detected")

    def _go_on(self, answered: Answered) -> None:
        """The user speaks on after a pause the brain took for the end of their turn: the reply
        begun (cancelled with their speech) is taken back, and this turn is answered together with
        the words before the pause, as one question."""
        self.went_on += 1
        self._earlier = answered.words
        self.responder.take()  # (the reply may not have taken the words yet)
        self.responder.adopt(answered.before)
        self._last_assistant = None  # the history no longer holds it: a truncation leaves the history be

    def _partial_transcript(self, partial: str | None) -> None:
        if self._speaking_item is None or not partial:
            return
        # Deltas only ever append; a revised partial waits for the final transcript.
        if partial.startswith(self._partial) and len(partial) > len(self._partial):
            delta = partial[len(self._partial) :]
            self._partial = partial
            self._emit(UserTranscriptDelta(self._speaking_item, delta))

    def _paused(self, words: str) -> None:
        """The listener's thread, at a pause (before its verdict, in model mode): the reply to
        `words` is prepared on the event loop while the listener goes on."""
        self._loop.call_soon_threadsafe(self._speculate, words.strip())

    def _speculate(self, words: str) -> None:
        """The user paused: prepare the reply to what they said so far, saying nothing."""
        turn = self.settings.turn_detection
        if (self._speaking_item is None or self._overlap is not None or self._response is not None
                or self.responder.waiting or turn is None or not turn.create_response):
            return
        self.speculator.discard(None)
        if words:
            self.speculator.start(_joined(self._earlier, words), self.responder.ensure, self.settings.audio)

    async def _end_turn(self, end_ms: int, transcript: str | None = None) -> None:
        item_id = self._speaking_item
        if item_id is None:
            return
        self._speaking_item = None
        self._stopped_at = time.monotonic()
        self._emit(UserSpeechStopped(item_id, end_ms))
        if transcript is None:
            transcript = await asyncio.to_thread(self.listener.finish)
        words, self._earlier = _joined(self._earlier, transcript), ""
        self._user_turn(item_id, transcript, words)
        turn = self.settings.turn_detection
        if not words.strip() or (turn is not None and not turn.create_response) or self._response is not None:
            self.speculator.discard("missed")
            return
        spec = await self.speculator.take(self.responder.owed(), self.settings.audio)
        if self._response is None:
            if self.responder.dialogue is None:
                await asyncio.to_thread(self.responder.ensure)
            before = fork_dialogue(self.responder.dialogue)  # taken back if the user goes on
            if spec is not None:
                self.responder.adopt(spec.dialogue)
                self.speculator.counts["used"] += 1
            self._start_response(self.settings.audio, speculation=spec)
            self._answered = Answered(words, end_ms, self._last_assistant, before)
        elif spec is not None:
            self.speculator.counts["missed"] += 1

    async def _commit(self, done: asyncio.Future) -> None:
        # The committed turn is recognized and told before the commit returns: a response asked for
        # next (push-to-talk: commit, then response.create) answers it, as the protocol promises.
        # (_input_op resolves `done` whatever happens here.)
        if self._speaking_item is not None:
            await self._end_turn(self.listener.heard_ms)
            return
        audio = await asyncio.to_thread(self.listener.take_manual)
        if done.done():
            return
        if audio is None:
            done.set_exception(RequestError("input audio buffer is empty or shorter than 100 ms",
                                            code="input_audio_buffer_commit_empty"))
            return
        self._stopped_at = time.monotonic()
        self._user_turn(new_id("item"), await asyncio.to_thread(self.listener.recognize, audio))

    def _user_turn(self, item_id: str, transcript: str, words: str | None = None) -> None:
        """The turn's transcript is told; its `words` (the transcript, or with the words of the
        turn it goes on with) are owed a reply."""
        self._emit(UserTranscriptDone(item_id, transcript))
        self.responder.heard(transcript if words is None else words)

    # -- the brain's side: one reply at a time (reply.py) -------------------------------------------

    def _start_response(self, audio: bool, script: str | None = None, speculation: Speculation | None = None) -> None:
        reply = Reply(self._reply_text(script, speculation), self.speaker, self._emit, audio=audio,
                      pace_ahead_s=self.pace_ahead_s, prepared=speculation.speech if speculation else None,
                      on_audio=self._first_audio, on_end=self._reply_ended)
        self._response = reply
        self._replies += 1
        self._last_assistant = reply.item_id
        self._said[reply.item_id] = reply.said
        reply.start()

    async def _reply_text(self, script: str | None, speculation: Speculation | None) -> AsyncIterator[str]:
        """The reply's text, taken from the responder when the reply starts speaking."""
        if self.responder.dialogue is None:
            await asyncio.to_thread(self.responder.ensure)
        user_text = self.responder.take()
        if speculation is not None:
            source = speculation.resume()
        else:
            source = self.responder.reply(user_text, script, greeted=self._replies > 1)
        async for piece in source:
            yield piece

    def _first_audio(self) -> None:
        if self._stopped_at is not None:
            self.turn_latencies.append(time.monotonic() - self._stopped_at)
            self._stopped_at = None

    def _reply_ended(self, reply: Reply) -> None:
        if self._response is reply:
            self._response = None

    async def _cancel(self, reason: str) -> None:
        self._playing_until = 0.0  # what was sent but not played is dropped with it
        if self._response is not None:
            await self._response.cancel(reason)


def _joined(earlier: str, words: str) -> str:
    return f"{earlier} {words}".strip() if earlier else words
