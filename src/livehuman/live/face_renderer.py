"""A session's view of the shared engine and avatar: lip sync in one thread, drawing in another."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np

from livehuman.live.reply_audio import ReplyAudio
from livehuman.motion.compose import compose
from livehuman.motion.controls import FaceControls
from livehuman.motion.expression import ExpressionRamp
from livehuman.motion.idle import blink_curve
from livehuman.motion.listening import ListeningCues
from livehuman.rates import FPS, REALTIME_RATE
from livehuman.render.engine import FrameDrive
from livehuman.speech.phones import Phone



class FaceRenderer:
    """A session's view of the shared engine and avatar: lip sync in one worker thread, drawing in another."""

    def __init__(self, engine, avatar, lipsync_factory: Callable[..., object], idle_factory: Callable[[], object],
                 persona: object = None, voice: str | None = None):
        self.engine = engine
        self.avatar = avatar
        # `voice`: the kind of voice replies without phones come in (motion/closures.py; None: the factory's).
        self.lipsync = lipsync_factory() if voice is None else lipsync_factory(voice=voice)
        self.idle = idle_factory()
        self.index = 0
        # The persona's expression and idle head motion (brain/persona.py; None: the defaults).
        self.expression = ExpressionRamp(FPS)
        self.head_motion = float(getattr(persona, "head_motion", 1.0))
        # The expression asked for last, and the one the render thread took: a new tuple each time,
        # so a request is never lost between the two threads.
        self._wanted: tuple[str, float] | None = None
        self._taken: tuple[str, float] | None = None
        # A reflex blink (a touch near the eyes): asked for in any thread, started by the render thread.
        self._blink_wanted = False
        self._blink_from: int | None = None  # the frame it started on
        # The user's voice, heard on the event loop (`hear_user`): the render thread takes the cues.
        self.cues = ListeningCues()
        self._nod_wanted = False
        self._look_away_wanted = False
        self.nods = 0  # nods asked for by the user's pauses
        # Two threads, each keeping its own order: lip sync of a reply's audio as it arrives, and
        # drawing. Drawing never waits behind a whole sentence's lip sync, nor lip sync behind drawing.
        self.lipsync_thread = ThreadPoolExecutor(1, thread_name_prefix="livehuman-lipsync")
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="livehuman-render")
        self._give_back: tuple[object, Callable[[object], None]] | None = None  # hear_phones_with's
        self._closed = False

    def reply_audio(self, rate: int = REALTIME_RATE) -> ReplyAudio | None:
        """A new reply's audio windows (its audio at `rate`) when the engine listens (MuseTalk);
        None for the cpu engine."""
        context = tuple(getattr(self.engine, "audio_context", (0.0, 0.0)))
        return ReplyAudio(context, rate=rate) if context != (0.0, 0.0) else None

    def express(self, name: str, strength: float) -> None:
        """Show emotion `name` at `strength` (0..1) from the next frame on, eased in (any thread)."""
        self._wanted = (name, strength)  # one assignment: the render thread takes it whole

    def blink(self) -> None:
        """Blink once from the next frame on, over the idle motion's own blinks (any thread)."""
        self._blink_wanted = True

    def hear_user(self, samples: np.ndarray, turn_open: bool) -> None:
        """The user's next 20 ms of microphone (float samples; one thread only): the face attends to
        their voice and nods in a pause the brain holds open (`turn_open`; motion/listening.py)."""
        if self.cues.hear(samples, turn_open):
            self._nod_wanted = True
            self.nods += 1

    def user_turn_over(self) -> None:
        """The brain ended the user's turn (any thread): the face may glance away while it plans
        its answer, and look back as it comes (motion/stream.py `IdleMotion.look_away`)."""
        self._look_away_wanted = True

    @property
    def shown(self) -> tuple[str, float] | None:
        """The expression the frames drawn since have been easing to (None: none asked for yet)."""
        return self._taken

    def face(self, mouth: FaceControls | None) -> FaceControls:
        """The next frame's controls: the idle motion (blinks, breathing, sway; a listener's nods)
        merged with `mouth`, the lip sync's frame, when speaking, and the expression, which comes
        on fully while speaking and fades to a trace while listening."""
        wanted = self._wanted
        if wanted is not self._taken:
            self._taken = wanted
            self.expression.set(*wanted)
        self.expression.listening(mouth is None)
        self.idle.attend(self.cues.attending)
        if self._nod_wanted:
            self._nod_wanted = False
            self.idle.nod()
        if self._look_away_wanted:
            self._look_away_wanted = False
            self.idle.look_away()
        life = self.idle.next_frame(mouth is not None)
        if self.head_motion != 1.0:
            life = replace(life, yaw=life.yaw * self.head_motion, pitch=life.pitch * self.head_motion,
                           roll=life.roll * self.head_motion)
        controls = compose(life, mouth, self.expression.next())
        if self._blink_wanted:
            self._blink_wanted = False
            self._blink_from = self.index
        if self._blink_from is not None:
            lid = blink_curve((self.index - self._blink_from) / FPS, FPS)
            if self.index - self._blink_from > FPS:  # a blink is over well within a second
                self._blink_from = None
            controls = replace(controls, blink=max(controls.blink, lid))
        return controls

    def render(self, mouth: FaceControls | None, listen: ReplyAudio | None = None, reply_frame: int = 0) -> np.ndarray:
        """The next frame's picture (see `face`); a listening engine also gets frame `reply_frame`'s
        window of the reply's audio."""
        controls = self.face(mouth)
        # The window is cut here, in the render thread, as late as possible: more of it has arrived.
        audio = listen.window(reply_frame) if listen is not None and mouth is not None else None
        frame = self.engine.render(self.avatar, self.index, FrameDrive(controls, audio))
        self.index += 1
        return frame

    def motion(self, samples: np.ndarray, rate: int, phones: list[Phone] | None,
               listen: ReplyAudio | None = None, hold: bool = False) -> list[FaceControls]:
        """Feed a reply's next audio (phones timed from the reply's first sample) to the lip sync;
        returns the frames it completes (with `hold`, those of a voice without phones may wait for
        the phones heard in them)."""
        self.lipsync.push(samples, rate, phones)
        if listen is not None:
            listen.push(samples)
        return self.lipsync.frames(hold=hold)

    def release(self) -> list[FaceControls]:
        """The frames the lip sync holds for their phones, now, as the sound made them."""
        return self.lipsync.frames()

    def finish(self, listen: ReplyAudio | None = None) -> list[FaceControls]:
        """The end of a reply's audio: its last frames; the lip sync starts afresh."""
        if listen is not None:
            listen.finish()
        controls = list(self.lipsync.frames()) + list(self.lipsync.flush() or [])
        self.lipsync.reset()
        return controls

    def reset(self) -> None:
        self.lipsync.reset()

    def hear_phones_with(self, recognizer, give_back: Callable[[object], None]) -> None:
        """Replies without phones (OpenAI's voices) get the phones `recognizer` hears in them, from the
        next reply (motion/phone_blend.py); `give_back(recognizer)` is called once this face is closed."""
        if self._closed:  # (the session ended while its recognizer was being made)
            threading.Thread(target=give_back, args=(recognizer,), name="livehuman-phones-back", daemon=True).start()
            return
        self._give_back = (recognizer, give_back)
        self.lipsync_thread.submit(setattr, self.lipsync, "recognizer", recognizer)

    def close(self) -> None:
        self._closed = True
        self.lipsync_thread.shutdown(wait=False, cancel_futures=True)
        self.executor.shutdown(wait=False, cancel_futures=True)
        if self._give_back is not None:
            # once the lip sync's thread is done with it, in a thread: the event loop does not wait
            threading.Thread(target=self._return_recognizer, name="livehuman-phones-back", daemon=True).start()

    def _return_recognizer(self) -> None:
        self.lipsync_thread.shutdown(wait=True)
        recognizer, give_back = self._give_back
        give_back(recognizer)
