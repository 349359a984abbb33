"""One live conversation, wired: microphone → brain; brain → page, synchronizer and face; page → brain.

The parts live in their own modules: the page's data-channel protocol in live/channel.py, the
pairing of reply audio with drawn frames on the media clock in live/synchronizer.py, lip sync and
drawing in live/face_renderer.py, turn latency marks in live/turns.py. The session dispatches the
brain's typed speech events (brain/speech_events.py) to them and handles barge-in.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable

import numpy as np

from livehuman.brain.base import Brain, RequestError
from livehuman.brain.speech_events import (
    BrainError,
    Notice,
    ReplyAudio,
    ReplyAudioDone,
    ReplyDone,
    ReplyHeld,
    ReplyResumed,
    ReplyStarted,
    ReplyTranscriptDelta,
    ReplyTranscriptDone,
    SpeechEvent,
    UserSpeechStarted,
    UserSpeechStopped,
    UserTranscriptDelta,
    UserTranscriptDone,
)
from livehuman.emotion.combine import UserEmotion, combine
from livehuman.emotion.reply import greeting_expression, reply_expression
from livehuman.emotion.text import text_emotion
from livehuman.emotion.voice import VoiceBaseline, VoiceEmotion, prosody
from livehuman.live.channel import (BadMessage, PageChannel, PageMessage, SayText, SpeakText, SwitchPersona, Touch,
                                    parse_message)
from livehuman.live.clock import MediaUnit
from livehuman.live.face_renderer import FaceRenderer
from livehuman.live.microphone import CHUNK_MS, microphone_chunks
from livehuman.live.synchronizer import AVSynchronizer, Reply
from livehuman.live.touch import ASK, PARTS, TouchLimiter, touch_reaction, touched_zone
from livehuman.live.tracks import ClockAudioTrack, ClockVideoTrack
from livehuman.live.turns import Turn
from livehuman.speech.audio import Audio, resample

logger = logging.getLogger("livehuman.live")

# Errors that only mean "nothing was playing any more": not worth a message on the page.
QUIET_ERRORS = ("response_cancel_not_active", "cancel_not_active")
VOICE_KEEP_S = 12.0  # microphone audio kept for reading the voice of the user's last turn
FEELINGS = {"joy": "happy", "sadness": "sad", "anger": "angry", "fear": "afraid", "surprise": "surprised"}
VOICE_RATE = 8000  # the voice is read at this rate: pitch, loudness and rate need no more, and it is 4x cheaper


class Declined(RuntimeError):
    """A request (a say, a persona switch) the session declines; `status` is the HTTP status that says why."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


class Session:
    """One person's conversation with the avatar over one WebRTC connection."""

    def __init__(self, session_id: str, brain: Brain, renderer: FaceRenderer,
                 on_closed: Callable[["Session"], None] | None = None, inactivity_timeout: float = 15.0,
                 persona=None, greet: bool = True, personas: tuple[str, ...] = ()):
        self.id = session_id
        # A browser keeps sending (silent) audio even when muted: a microphone that stops means the
        # client is gone, long before ICE consent (about 30 s) notices.
        self.inactivity_timeout = inactivity_timeout
        self.brain = brain
        if hasattr(brain, "holds_replies"):  # the clock can pause a reply while a sound over it is judged
            brain.holds_replies = True
        self.renderer = renderer
        self.log = logging.LoggerAdapter(logger, {"session": session_id})
        self.page = PageChannel(self.log)
        self.sync = AVSynchronizer(renderer, on_play=self._on_play)
        self.clock = self.sync.clock
        self.audio_track = ClockAudioTrack(self.clock)
        self.video_track = ClockVideoTrack(self.clock)
        self.state = "listening"
        self.closed = asyncio.Event()
        self.turns: list[Turn] = []
        self.barge_ins: list[dict] = []
        self.holds = {"held": 0, "resumed": 0}  # replies paused for a sound over them, and played on after it
        self._held_at: float | None = None  # when the reply playing now was held
        self.errors: dict[str, int] = {}  # errors reported, by kind (live/metrics.py counts them)
        self._on_closed = on_closed
        self._tasks: list[asyncio.Task] = []
        self._cancelled: set[str] = set()
        self._user_text: dict[str, str] = {}
        self._assistant_text: dict[str, str] = {}
        self._turn: Turn | None = None
        self._mic_ms = 0.0  # microphone audio sent to the brain so far
        self._mic_marks: deque[tuple[float, float]] = deque(maxlen=500)  # (end ms, arrival time)
        self._mic_heard: float | None = None  # when the microphone's last packet came (None: no track, or it ended)
        self._closing = False
        # The persona (brain/persona.py): its name on the page, its greeting, its expressiveness.
        self.persona = persona
        self.personas = personas  # the keys of the personas the page may switch to (serve --persona)
        self.expressiveness = float(getattr(persona, "expressiveness", 0.7))
        self._greet = greet and bool(getattr(persona, "greeting", "").strip())
        # Replies whose face was chosen before they began (the greeting's smile, a touch's reaction):
        # their words do not change it. The next reply to start is one of them while one is pending.
        self._kept_faces: set[str] = set()
        self._face_pending: tuple[str, float] | None = None
        self.touches = TouchLimiter()
        self._touched = 0  # touch reactions so far (a persona's lines for a zone are said in turn)
        # Emotion in: the user's voice against their own running normal, and the last turn's reading.
        self._voice = VoiceBaseline()
        self._mic_audio: deque[tuple[float, np.ndarray]] = deque(maxlen=int(VOICE_KEEP_S * 1000 / CHUNK_MS))
        self._speech_starts: dict[str, float] = {}  # item → where its speech began in the input, ms
        self._user_turn_open = False  # the brain heard the user start a turn it has not ended yet
        self._voice_read: dict[str, asyncio.Future] = {}  # item → its voice being read
        self.user_emotion: UserEmotion | None = None
        self._shown: dict[str, tuple[str, float]] = {}  # response → the expression its text showed

    # wiring

    async def start(self) -> None:
        """Render the first idle frame and start the session's tasks."""
        await self.sync.start()
        for coro in (self._brain_loop(), self.sync.render_loop(), self.sync.idle_loop()):
            self._spawn(coro)
        if self.persona is not None:
            self.page.persona(self.persona.key, self.persona.name)

    def attach_channel(self, channel) -> None:
        """Use this data channel for the page's `events` protocol."""
        self.page.attach(channel, on_message=lambda message: self._spawn(self.handle_client_message(message)),
                         on_close=lambda: self._spawn(self.close("the data channel closed")),
                         on_open=lambda: self._spawn(self.greet()))

    async def greet(self) -> None:
        """Open the conversation: the persona's greeting, spoken with a smile (once; the page is
        there once its data channel is open, so nobody misses it)."""
        if not self._greet or self._closing:
            return
        self._greet = False
        self.renderer.express(*greeting_expression(self.expressiveness))
        self._face_pending = greeting_expression(self.expressiveness)
        say = getattr(self.brain, "say", None)  # the offline brain speaks a text verbatim
        try:
            if say is not None:
                await say(self.persona.greeting)
            else:  # a remote brain is asked to
                await self.brain.add_message(f"Open the conversation now by greeting the user with these words: "
                                             f"{self.persona.greeting}", role="system")
                await self.brain.respond()
        except RequestError as exc:
            self._face_pending = None
            self._brain_error(exc.message, exc.code)
        except Exception as exc:  # a greeting that fails must not end the conversation
            self._face_pending = None
            self.log.warning("session %s: the greeting failed: %s", self.id, exc)

    def attach_microphone(self, track) -> None:
        """Read the browser's microphone and stream it to the brain."""
        self._mic_heard = time.monotonic()
        self._spawn(self._mic_loop(track))
        self._spawn(self._mic_watchdog())

    def _spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.append(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task) -> None:
        if task in self._tasks:
            self._tasks.remove(task)
        if not task.cancelled() and task.exception() is not None and not self._closing:
            exc = task.exception()
            self.errors["task_failed"] = self.errors.get("task_failed", 0) + 1
            self.log.error("session %s: task failed: %s: %s", self.id, type(exc).__name__, exc, exc_info=exc)
            self.page.error(f"internal error: {type(exc).__name__}: {exc}")
            asyncio.ensure_future(self.close("a task failed"))

    @property
    def ending(self) -> bool:
        """True from the moment the session starts to close: it no longer holds a place."""
        return self._closing

    async def close(self, reason: str = "closed") -> None:
        """End the session: stop media and tasks, close the brain (idempotent)."""
        if self._closing:
            return
        self._closing = True
        self.log.info("session %s ends: %s", self.id, reason)
        self.page.send({"type": "ended", "reason": reason})  # the page says why (a page that hung up hears nothing)
        self.sync.close()
        self.audio_track.stop()
        self.video_track.stop()
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        try:
            await asyncio.wait_for(self.brain.close(), 5)
        except Exception as exc:  # a brain that fails to close must not keep the session alive
            self.log.warning("session %s: brain close failed: %s", self.id, exc)
        self.renderer.close()
        self.closed.set()
        if self._on_closed is not None:
            self._on_closed(self)

    # the page

    async def handle_client_message(self, message) -> None:
        """One message from the page: text, interrupt; anything else is answered with an error."""
        try:
            request = parse_message(message)
        except BadMessage as exc:
            self.page.error(str(exc))
            return
        try:
            await self.carry_out(request, "client")
        except Declined as exc:
            self.page.error(str(exc))

    async def carry_out(self, request: PageMessage, cause: str) -> None:
        """One command, from the page's data channel or the drive API's WebSocket; `cause` names
        where an interrupt came from. Raises Declined for a say or switch that cannot be done."""
        if isinstance(request, SayText):
            await self.say(request.text)
        elif isinstance(request, SpeakText):
            await self.speak(request.text, request.interrupt)
        elif isinstance(request, Touch):
            await self.touch(request.x, request.y)
        elif isinstance(request, SwitchPersona):
            self.switch_persona(request.key)
        else:
            await self.barge_in(cause)

    def switch_persona(self, key: str) -> bool:
        """Ask the page to start a new conversation with persona `key`: a `switch` event, on which the
        page reconnects with it (a persona brings its own face, voice and brain, so a session keeps
        one; this one ends when the page hangs up). False when `key` is this session's persona."""
        if key not in self.personas:
            choices = ", ".join(self.personas) or "none: this server has one persona (give serve --persona more)"
            raise Declined(f"unknown persona {key!r}: choose one of {choices}", 400)
        if self.persona is not None and key == self.persona.key:
            return False
        self.log.info("session %s: the page is asked to switch to persona %s", self.id, key)
        self.page.send({"type": "switch", "persona": key})
        return True

    async def say(self, text: str) -> None:
        """The user typed `text`: interrupt any reply, then ask the brain to answer it."""
        await self.barge_in("text")
        self._new_turn(time.monotonic(), "text")
        self.page.transcript("user", text, final=True)
        await self._user_emotion(text, None, None)
        await self.brain.add_message(text)
        try:
            try:
                await self.brain.respond()
            except RequestError as exc:
                if exc.code != "conversation_already_has_active_response":
                    raise
                # The last question's answer is still being prepared (nothing of it plays yet, so
                # the barge-in above had nothing to stop): the newer question takes its place.
                await self.brain.interrupt(None, None)
                await self.brain.respond()
        except RequestError as exc:
            self._brain_error(exc.message, exc.code)
            return
        self._set_state("thinking")

    @property
    def busy(self) -> bool:
        """Whether the avatar is answering or speaking (what it says would be cut by a new reply)."""
        return self.sync.active or self.state != "listening"

    async def speak(self, text: str, interrupt: bool = True) -> None:
        """Say `text` verbatim (the drive API, live/drive.py), cutting what is being said unless
        `interrupt` is False, when a busy avatar refuses it (Declined, status 409)."""
        say = getattr(self.brain, "say", None)  # the offline brain's; a remote one has no verbatim speech
        if say is None:
            raise Declined("this session's brain cannot say a given text (the offline brain can: serve "
                              "with --brain local); ask it instead, as the user would", 501)
        if not interrupt and self.busy:
            raise Declined(f"the avatar is {self.state}: send \"interrupt\": true to cut it, or wait for "
                              f"its state to be listening", 409)
        await self.barge_in("say")
        self._new_turn(time.monotonic(), "say")
        await say(text)
        self._set_state("thinking")

    async def touch(self, x: float, y: float) -> str | None:
        """The user touched the video at (x, y) (0..1 of its frame): the face's zone there reacts
        with an expression and a short line, cutting what the avatar was saying with an "Oh!".
        Returns the zone, or None when the touch missed the face or came too soon after the last."""
        zone = touched_zone(self.renderer.avatar, self.renderer.index, x, y)
        if zone is None or self._closing or not self.touches.allow():
            return None
        speaking = self.sync.active
        say = getattr(self.brain, "say", None)
        reaction = touch_reaction(zone, self.persona, self._touched, cut=speaking and say is not None)
        self._touched += 1
        self.page.send({"type": "touch", "zone": zone, "x": round(x, 3), "y": round(y, 3),
                        "expression": reaction.expression, "strength": reaction.strength})
        if reaction.blink:
            self.renderer.blink()
        self.renderer.express(reaction.expression, reaction.strength)
        await self.barge_in("touch")
        if say is None and self.state != "listening":
            return zone  # a remote brain still composing its answer: the face reacts, the answer goes on
        self._face_pending = (reaction.expression, reaction.strength)
        self._new_turn(time.monotonic(), "touch")
        try:
            if say is not None:  # the offline brain says the line verbatim
                await say(reaction.line)
            else:  # a remote brain is asked to react in its own words
                await self.brain.add_message(ASK.format(part=PARTS[zone], line=reaction.line), role="system")
                await self.brain.respond()
        except RequestError as exc:
            self._face_pending = None
            self._brain_error(exc.message, exc.code)
            return zone
        self._set_state("thinking")
        return zone

    def _new_turn(self, end: float, source: str) -> None:
        self._turn = Turn(number=len(self.turns) + 1, end=end, source=source)
        self.turns.append(self._turn)

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.page.state(state)

    # barge-in

    async def barge_in(self, cause: str, speech_at: float | None = None, event_at: float | None = None) -> None:
        """Stop the reply now: drop queued media, truncate what was not heard, cancel the response."""
        # A held reply fell silent when it was held: that is when the voice stopped.
        held_at, self._held_at = self._held_at, None
        if not self.sync.active:
            self.sync.resume()  # a hold with nothing left to play must not hold the next reply
            return
        started = time.monotonic()
        cut = self.sync.interrupt()
        stopped = time.monotonic()
        if cut.response_id is not None:
            self._cancelled.add(cut.response_id)
        await self.brain.interrupt(cut.item_id, cut.heard_ms if cut.item_id is not None else None)
        record = {"type": "metrics", "barge_in": cause, "dropped_frames": cut.dropped, "heard_ms": cut.heard_ms,
                  "stop_ms": round((stopped - started) * 1000, 1)}
        if held_at is not None:
            record["held_ms"] = round((stopped - held_at) * 1000, 1)
        if speech_at is not None:  # from the speech's start in the mic audio, as the brain's VAD places it
            record["speech_to_stop_ms"] = round(((held_at or stopped) - speech_at) * 1000, 1)
        if event_at is not None and held_at is None:  # from the brain's speech_started event
            record["event_to_stop_ms"] = round((stopped - event_at) * 1000, 1)
        self.barge_ins.append(record)
        self.log.info("session %s: barge-in (%s): %s", self.id, cause, record)
        self.page.send(record)
        self._set_state("listening")

    def _hold(self) -> None:
        """A sound over the reply is being judged (brain/barge_in.py): pause the reply where it is."""
        if self._held_at is None and self.sync.active:
            self.sync.hold()
            self._held_at = time.monotonic()
            self.holds["held"] += 1
            self._set_state("listening")

    def _resume(self) -> None:
        """It was no interruption: the reply plays on (its next frame sets "speaking" again)."""
        if self._held_at is not None:
            self._held_at = None
            self.sync.resume()
            self.holds["resumed"] += 1

    # microphone → brain

    async def _mic_loop(self, track) -> None:
        try:
            async for samples, rate in microphone_chunks(track, lambda: self.brain.input_rate):
                self._mic_heard = time.monotonic()
                await self.brain.push_audio(samples, rate)
                self.renderer.hear_user(samples, self._user_turn_open)
                self._mic_ms += CHUNK_MS
                self._mic_audio.append((self._mic_ms, samples))
                self._mic_marks.append((self._mic_ms, time.monotonic()))
        finally:
            self._mic_heard = None

    async def _mic_watchdog(self) -> None:
        """End the session when the microphone has sent nothing for `inactivity_timeout` s (a visitor
        gone without hanging up); stop watching when the microphone's track ends."""
        while self._mic_heard is not None:
            silent = time.monotonic() - self._mic_heard
            if silent >= self.inactivity_timeout:
                await self.close(f"no audio from the client for {self.inactivity_timeout:g} s")
                return
            await asyncio.sleep(self.inactivity_timeout - silent)

    def _prefix_padding_ms(self) -> float:
        """The brain's VAD prefix padding (audio before the speech that its turns include)."""
        turn = self.brain.settings.turn_detection
        return float(turn.prefix_padding_ms) if turn is not None else 0.0

    def _mic_time(self, audio_ms: float | None) -> float:
        """When the microphone audio at `audio_ms` (in the brain's input buffer) arrived here."""
        now = time.monotonic()
        if audio_ms is None:
            return now
        for end_ms, arrived in self._mic_marks:
            if end_ms >= audio_ms:
                return arrived - (end_ms - audio_ms) / 1000
        return now

    # brain → page and media

    async def _brain_loop(self) -> None:
        ordered: asyncio.Queue[SpeechEvent | None] = asyncio.Queue()
        handler = asyncio.ensure_future(self._handle_in_order(ordered))
        try:
            async for event in self.brain.events():
                # A hold is about what plays now: it must not wait behind a reply's audio that is
                # still being lip-synced (a long reply's burst takes seconds to go through).
                if isinstance(event, ReplyHeld):
                    self._hold()
                elif isinstance(event, ReplyResumed):
                    self._resume()
                else:
                    ordered.put_nowait(event)
            ordered.put_nowait(None)
            await handler
        finally:
            handler.cancel()
        if not self._closing:
            self.page.error("the conversation ended")
            await self.close("the brain ended")

    async def _handle_in_order(self, events: asyncio.Queue[SpeechEvent | None]) -> None:
        while (event := await events.get()) is not None:
            # A sentence's audio arrives as a burst of chunks: let the clock and the renderer run
            # between them, or the burst's lip-sync work would stall the media for its length.
            await asyncio.sleep(0)
            try:
                await self._on_brain_event(event)
            except Exception as exc:
                name = type(event).__name__
                self.log.exception("session %s: bad brain event %s", self.id, name)
                self.page.error(f"could not handle {name}: {exc}")

    def _current(self, response_id: str) -> Reply | None:
        """The reply being received, if it is `response_id`'s (and was not cut short)."""
        reply = self.sync.reply
        if reply is not None and response_id == reply.response_id and response_id not in self._cancelled:
            return reply
        return None

    async def _on_brain_event(self, event: SpeechEvent) -> None:
        now = time.monotonic()
        match event:
            case UserSpeechStarted(item_id=item, audio_start_ms=start_ms):
                # audio_start_ms includes the VAD's prefix padding (the protocol says so): the
                # speech itself begins that much later.
                await self.barge_in("speech", self._mic_time(start_ms + self._prefix_padding_ms()), now)
                self._set_state("listening")
                self._speech_starts[item] = start_ms + self._prefix_padding_ms()
                self._user_turn_open = True
            case UserSpeechStopped(item_id=item, audio_end_ms=end_ms):
                self._user_turn_open = False
                self.renderer.user_turn_over()
                self._new_turn(self._mic_time(end_ms), "speech")
                self._set_state("thinking")
                self._read_voice(item, end_ms)
            case UserTranscriptDelta(item_id=item, delta=delta):
                self._user_text[item] = self._user_text.get(item, "") + delta
                self.page.transcript("user", self._user_text[item], final=False, item=item)
            case UserTranscriptDone(item_id=item, transcript=transcript):
                self._user_text.pop(item, None)
                self.page.transcript("user", transcript, final=True, item=item)
                if self._turn is not None and self._turn.asr_final is None:
                    self._turn.asr_final = now
                if transcript.strip():
                    self._spawn(self._user_emotion(transcript, item, self._voice_read.pop(item, None)))
            case ReplyStarted(response_id=response_id, item_id=item):
                previous = self.sync.reply
                if previous is not None and not previous.flushed:
                    await self.sync.end_audio(previous)
                self.sync.begin(response_id).item_id = item
                if self._face_pending is not None:  # the greeting keeps its smile, a touch its reaction
                    name, strength = self._face_pending
                    self._face_pending = None
                    self._kept_faces.add(response_id)
                    self.page.emotion("assistant", name, item, strength=strength)
                if self._turn is None or self._turn.first_audio is not None:
                    # A reply nobody asked for (a greeting): time it from now.
                    self._new_turn(now, "brain")
                if self.state == "listening":
                    self._set_state("thinking")
            case ReplyTranscriptDelta(response_id=response_id, item_id=item, delta=delta):
                if response_id in self._cancelled:
                    return
                self._assistant_text[item] = self._assistant_text.get(item, "") + delta
                self.page.transcript("assistant", self._assistant_text[item], final=False, item=item)
                if response_id not in self._shown or any(mark in delta for mark in ".!?"):
                    self._express(response_id, item, self._assistant_text[item])
                if self._turn is not None and self._turn.first_text is None:
                    self._turn.first_text = now
            case ReplyTranscriptDone(response_id=response_id, item_id=item, transcript=transcript):
                text = transcript or self._assistant_text.get(item, "")
                self._assistant_text.pop(item, None)
                if response_id not in self._cancelled:
                    self.page.transcript("assistant", text, final=True, item=item)
                    self._express(response_id, item, text)
            case ReplyAudio():
                await self._on_audio(event, now)
            case ReplyAudioDone(response_id=response_id):
                if (reply := self._current(response_id)) is not None:
                    await self.sync.end_audio(reply)
            case ReplyDone(response_id=response_id):
                if (reply := self._current(response_id)) is not None and await self.sync.end_reply(reply):
                    self._set_state("listening")
            case BrainError(message=message, code=code):
                self._brain_error(message, code)
            case Notice(message=message):
                self.page.notice(message)

    def _brain_error(self, message: str, code: str | None) -> None:
        if code not in QUIET_ERRORS:
            self.errors[code or "brain"] = self.errors.get(code or "brain", 0) + 1
            self.log.warning("session %s: brain error (%s): %s", self.id, code, message)
            self.page.error(message or "the brain reported an error")

    async def _on_audio(self, event: ReplyAudio, now: float) -> None:
        if event.response_id in self._cancelled:
            return
        reply = self.sync.reply
        if reply is None or event.response_id != reply.response_id:
            reply = self.sync.begin(event.response_id)
        if reply.item_id is None:
            reply.item_id = event.item_id
        if self._turn is not None and self._turn.first_audio is None:
            self._turn.first_audio = now
        # Phones come timed from the reply's first sample, as the synchronizer takes them.
        await self.sync.push_audio(reply, event.samples, event.rate, list(event.phones))

    # emotion in (the user's words and voice) and out (the avatar's expression)

    def _read_voice(self, item: str, end_ms: float) -> None:
        """Start reading the voice of the turn that just ended (in a thread: ~0.1 s for 3 s of speech)."""
        start = self._speech_starts.pop(item, None)
        rate = self.brain.input_rate
        chunks = [c for end, c in self._mic_audio if start is not None and start < end and end - CHUNK_MS < end_ms]
        if chunks:
            samples = np.concatenate(chunks)[-int(VOICE_KEEP_S / 2 * rate):]
            self._voice_read[item] = asyncio.ensure_future(asyncio.to_thread(self._voice_of, samples, rate))

    def _voice_of(self, samples: np.ndarray, rate: int) -> VoiceEmotion | None:
        heard = prosody(resample(Audio(samples, rate), VOICE_RATE).samples, VOICE_RATE)
        return self._voice.read(heard) if heard is not None else None

    async def _user_emotion(self, text: str, item: str | None, voice: asyncio.Future | None) -> None:
        """The user's turn's emotion (words, and voice when heard): shown on the page, and told to a
        brain that does not read it from the words itself (as context for its reply)."""
        heard = None
        if voice is not None:
            try:
                heard = await voice
            except Exception as exc:  # a voice that cannot be read leaves the words
                self.log.debug("session %s: voice not read: %s", self.id, exc)
        emotion = combine(await asyncio.to_thread(text_emotion, text), heard)
        self.user_emotion = emotion
        self.page.emotion("user", emotion.label, item, valence=emotion.valence,
                          arousal=emotion.arousal if heard is not None else None)
        if emotion.label != "neutral" and not getattr(self.brain, "reads_emotion", False):
            try:
                await self.brain.add_message(f"(The user sounds {FEELINGS.get(emotion.label, emotion.label)}: "
                                             f"answer with fitting empathy.)", role="system")
            except RequestError as exc:  # context the brain would not take: the conversation goes on
                self.log.warning("session %s: emotion note refused: %s", self.id, exc.message)

    def _express(self, response_id: str, item: str, text: str) -> None:
        """The avatar's face for a reply, from its text so far (and the user's last emotion)."""
        if response_id in self._kept_faces or response_id in self._cancelled:
            return
        user = self.user_emotion.label if self.user_emotion is not None else None
        shown = reply_expression(text, user, self.expressiveness)
        if self._shown.get(response_id) != shown:
            self._shown[response_id] = shown
            self.renderer.express(*shown)
            self.page.emotion("assistant", shown[0], item, strength=shown[1])

    # the clock's report of each unit of a reply starting to play

    def _on_play(self, unit: MediaUnit, first: bool, t: float) -> None:
        if first:
            turn = self._turn
            if turn is not None and turn.first_frame is None:
                turn.first_frame = t
                self._report(turn)
        self._set_state("speaking")
        if unit.last:
            self._set_state("listening")

    def _report(self, turn: Turn) -> None:
        if turn.reported:
            return
        turn.reported = True
        metrics = turn.metrics()
        self.log.info("session %s turn %d (%s): asr final %s ms, first text %s ms, first audio %s ms, first frame %s ms",
                      self.id, turn.number, turn.source, metrics["asr_final_ms"], metrics["first_text_ms"],
                      metrics["first_audio_ms"], metrics["first_frame_ms"])
        self.page.send(metrics)
