"""The one factory of offline brains: a LocalBrain per session, the slow parts shared between sessions."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from livehuman.brain.barge_in import BargeInRule
from livehuman.brain.base import TurnDetection
from livehuman.brain.local import LocalBrain
from livehuman.brain.recognizer import AsrPool, knowledge_asr, process_asr
from livehuman.brain.turn_end import LIMIT_MS, MODES, PAUSE_MS, UNSURE_MS, ModelTurns
from livehuman.errors import LivehumanError
from livehuman.speech.languages import hearing_notice, persona_voice

if TYPE_CHECKING:
    from livehuman.brain.dialogue import Dialogue

log = logging.getLogger(__name__)

MIN_SILENCE_MS = 100  # below this, every breath between two words would end the turn


class LocalBrainFactory:
    """Makes one LocalBrain per session, sharing the slow parts: persona, knowledge base, embedder, recognizers.

    `persona` and `knowledge` are loaded objects or the paths of their files (None: the built-in
    ones); `voice` is an espeak-ng voice (None: the persona's). `llm_url`/`llm_model` name an
    OpenAI-compatible chat endpoint for the replies (None: offline retrieval over the knowledge
    base); `asr_model_dir` a faster-whisper model (None: pocketsphinx).
    `silence_ms` ends a turn after that much silence (None: the protocol's 500 ms); `speculate_ms`
    prepares the reply after a pause that long, held until the turn ends (None: never);
    `asr_second_pass=False` skips pocketsphinx's second pass: the final transcript comes ~150 ms
    sooner, a bit worse. `asr_processes` runs each recognizer in a process of its own
    (recognizer.py ProcessASR: pocketsphinx holds the GIL, so sessions speaking at once otherwise
    decode in turn); `close()` ends them. A client's settings update still overrides the turn settings.
    `end_of_turn` "vad" (the default, the protocol's meaning) ends a VAD turn after `silence_ms`;
    "model" after `turn_pause_ms` of silence if the user's words, pitch and the end-of-turn model
    say it is finished, after `turn_unsure_ms` if unsure, after `turn_limit_ms` if unfinished
    (see turn_end.py; `silence_ms` is then unused); "auto" (`serve`'s default) the model's way
    for a voice that sounds like a person's, after `silence_ms` for a synthesizer's. The model is
    loaded once, here: a missing file fails now, not in the first session (auto: a warning, and
    every turn ends after `silence_ms`). `barge_in` (brain/barge_in.py) judges
    a sound heard while the avatar speaks before it stops the avatar (None: any speech stops it).

    Calling the factory (with the HTTP request, or nothing) makes a brain. Lazy (the default), the
    brain comes at once and builds its dialogue and takes its recognizer on first use, in a worker
    thread. `eager`, the call returns an awaitable brain whose dialogue is already built, so that a
    live conversation never waits mid-turn for it. Either way, call `warm_up()` in a thread at
    start-up so that the first sessions do not wait for the embedding model and the recognizers.
    """

    worker_kind = "asr"  # its `restarts` are the server's /metrics livehuman_worker_restarts{kind="asr"}

    def __init__(self, persona: Any = None, knowledge: Any = None, *, voice: str | None = None,
                 llm_url: str | None = None, llm_model: str | None = None, asr_model_dir: str | None = None,
                 silence_ms: int | None = None, speculate_ms: int | None = None, asr_second_pass: bool = True,
                 eager: bool = False, end_of_turn: str = "vad", turn_pause_ms: int = PAUSE_MS,
                 turn_limit_ms: int = LIMIT_MS, turn_unsure_ms: int = UNSURE_MS, asr_processes: bool = False,
                 barge_in: BargeInRule | None = BargeInRule()) -> None:
        from livehuman.brain.knowledge import load_knowledge
        from livehuman.brain.persona import Persona, load_persona

        self.persona = load_persona(persona) if _is_path(persona) else persona
        if knowledge is None and getattr(self.persona, "knowledge", None):
            knowledge = self.persona.knowledge  # the persona's own, unless the caller gives one
        self.knowledge = load_knowledge(knowledge) if _is_path(knowledge) else knowledge
        self.voice = voice or persona_voice(self.persona.voice, self.persona.language, Persona.voice)
        self.llm_url = llm_url
        self.llm_model = llm_model
        self.asr_model_dir = asr_model_dir
        self.asr_second_pass = asr_second_pass
        self.asr_processes = asr_processes
        self.silence_ms = None if silence_ms is None else int(silence_ms)
        if self.silence_ms is not None and self.silence_ms < MIN_SILENCE_MS:
            raise LivehumanError(f"the end-of-turn silence must be at least {MIN_SILENCE_MS} ms, got {self.silence_ms}")
        self.speculate_ms = speculate_ms
        if end_of_turn not in MODES:
            raise LivehumanError(f"unknown end-of-turn mode {end_of_turn!r}: use one of {', '.join(MODES)}")
        model = _end_of_turn_model(end_of_turn)
        self.model_turns = None if model is None else ModelTurns(
            model, int(turn_pause_ms), int(turn_limit_ms), int(turn_unsure_ms), people_only=end_of_turn == "auto")
        self.eager = eager
        self.barge_in = barge_in
        self.asr_pool = AsrPool(self._make_asr)
        self._embedder: Any = None  # loaded once, by warm_up() or the first eager brain
        self._embedder_loading = asyncio.Lock()

    def __call__(self, request: Any = None) -> LocalBrain | Awaitable[LocalBrain]:
        """A brain for one session (`request` is not used): a LocalBrain, or an awaitable of one when eager."""
        return self._ready_brain() if self.eager else self._brain(None)

    def dialogue(self) -> Dialogue:
        """A fresh conversation over the shared knowledge base (blocking: the first may load the embedder)."""
        from livehuman.brain.dialogue import Dialogue

        return Dialogue(self.persona, self.knowledge, self.llm_url, self.llm_model, embedder=self._embedder)

    def warm_up(self, sessions: int = 1) -> None:
        """Load the embedder, index the knowledge base and build `sessions` recognizers now (blocking).

        Each holds the GIL for hundreds of ms: built while others talk, they would stall their media.
        """
        if self.llm_url is None and self._embedder is None:
            from livehuman.brain.knowledge import load_embedder

            self._embedder = load_embedder()
        self.dialogue()
        recognizers = [self.asr_pool.acquire() for _ in range(max(1, sessions))]
        for recognizer in recognizers:
            self.asr_pool.release(recognizer)

    @property
    def restarts(self) -> int:
        """Its recognizers' processes started again after one died (the server's /metrics)."""
        return self.asr_pool.restarts

    def close(self) -> None:
        """Close the pooled recognizers (their processes, with `asr_processes`); sessions still
        running keep theirs until they end."""
        self.asr_pool.close()

    def _make_asr(self) -> Any:
        make = process_asr if self.asr_processes else knowledge_asr
        return make(self.knowledge, self.asr_model_dir, second_pass=self.asr_second_pass)

    def _brain(self, dialogue: Dialogue | None) -> LocalBrain:
        turn_detection = TurnDetection() if self.silence_ms is None else TurnDetection(silence_duration_ms=self.silence_ms)
        make_tts = getattr(self.persona, "tts", None)  # the persona's engine, rate and pitch
        return LocalBrain(dialogue, dialogue_factory=self.dialogue, voice=self.voice, asr_pool=self.asr_pool,
                          tts=make_tts(self.voice) if make_tts is not None else None,
                          instructions=self.persona.instructions, turn_detection=turn_detection,
                          speculate_ms=self.speculate_ms, model_turns=self.model_turns,
                          notice=hearing_notice(self.persona.language, self.asr_model_dir),
                          barge_in=self.barge_in)

    async def _ready_brain(self) -> LocalBrain:
        from livehuman.brain.knowledge import load_embedder

        async with self._embedder_loading:  # sessions starting together load it once, off the event loop
            if self.llm_url is None and self._embedder is None:
                self._embedder = await asyncio.to_thread(load_embedder)
        return self._brain(await asyncio.to_thread(self.dialogue))


def _end_of_turn_model(mode: str) -> Any:
    """The end-of-turn model for `mode`, loaded once for every session (None: no model judges).
    Asked for ("model"), a missing file is an error; by default ("auto") a warning, and turns end
    after the fixed silence, as in "vad" mode."""
    if mode == "vad":
        return None
    from livehuman.speech.end_of_turn import EndOfTurnModel

    try:
        return EndOfTurnModel()
    except LivehumanError as error:
        if mode == "model":
            raise
        log.warning("%s; turns end after a fixed silence", error)
        return None


def _is_path(value: Any) -> bool:
    """Whether a persona or knowledge argument still has to be loaded (None: the built-in one)."""
    return value is None or isinstance(value, (str, os.PathLike))
