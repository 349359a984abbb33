"""LocalBrainFactory: files loaded, settings passed on, slow parts shared, eager and lazy brains."""

from __future__ import annotations

import asyncio
import inspect
import logging
from pathlib import Path

import pytest
import pytest_asyncio

from livehuman.brain.local import LocalBrain
from livehuman.brain.local_factory import LocalBrainFactory
from livehuman.brain.recognizer import AsrPool
from livehuman.brain.speech_events import BrainError, ReplyDone, ReplyTranscriptDone
from livehuman.errors import LivehumanError

in_module_loop = pytest.mark.asyncio(loop_scope="module")

PERSONA = """\
name: Rosa
greeting: Hello, I am Rosa.
instructions: Answer questions about Mars.
voice: en-gb
"""
KNOWLEDGE = """\
- q: What colour is the sky on Mars?
  a: Butterscotch by day, and blue at sunset.
- q: How long is a day on Mars?
  a: A Martian day lasts twenty four hours and thirty nine minutes.
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("mars")
    (folder / "persona.yaml").write_text(PERSONA)
    (folder / "knowledge.yaml").write_text(KNOWLEDGE)
    return folder / "persona.yaml", folder / "knowledge.yaml"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def live(files):
    """An eager factory tuned like `livehuman serve`'s, from files, warmed up for two sessions."""
    persona, knowledge = files
    factory = LocalBrainFactory(str(persona), knowledge, silence_ms=300, speculate_ms=150, asr_second_pass=False,
                                eager=True)
    built = []

    def counted():
        built.append(factory._make_asr())
        return built[-1]

    factory.asr_pool = AsrPool(counted)
    await asyncio.to_thread(factory.warm_up, 2)
    return factory, built


async def ask(brain: LocalBrain, question: str) -> str:
    """The text reply to a typed question."""
    await brain.add_message(question)
    await brain.respond(audio=False)

    async def reply() -> str:
        text = None
        async for event in brain.events():
            if isinstance(event, BrainError):
                raise AssertionError(event)
            if isinstance(event, ReplyTranscriptDone):
                text = event.transcript
            if isinstance(event, ReplyDone):
                return text
        raise AssertionError("the events ended before the reply")

    return await asyncio.wait_for(reply(), 30)


@pytest.mark.slow
@in_module_loop
async def test_files_are_loaded_and_the_settings_reach_the_brain(live):
    factory, _ = live
    made = factory()
    assert inspect.isawaitable(made)
    brain = await made
    assert isinstance(brain, LocalBrain)
    assert brain.dialogue is not None  # eager: built before the session starts
    assert brain.dialogue.persona.name == "Rosa"
    assert brain.dialogue.knowledge is factory.knowledge
    assert factory.knowledge.entries[0].question == "What colour is the sky on Mars?"
    assert brain.settings.instructions == "Answer questions about Mars."
    assert brain.settings.voice == "en-gb"
    assert brain.settings.turn_detection.silence_duration_ms == 300
    assert brain.speculate_ms == 150
    await brain.close()


@in_module_loop
async def test_eager_brains_share_the_slow_parts_not_the_conversation(live):
    factory, _ = live
    first, second = await factory(), await factory("a request")
    assert first.dialogue is not second.dialogue
    assert first.dialogue._embedder is second.dialogue._embedder is not None
    assert "Butterscotch" in await ask(first, "what colour is the sky on mars")
    assert [m["role"] for m in first.dialogue.history] == ["user", "assistant"]
    assert second.dialogue.history == []
    await first.close()
    await second.close()


@in_module_loop
async def test_warm_up_builds_a_recognizer_per_session(live):
    factory, built = live
    assert len(built) == 2
    taken = [factory.asr_pool.acquire(), factory.asr_pool.acquire()]
    assert len(built) == 2 and {id(r) for r in taken} == {id(r) for r in built}
    for recognizer in taken:
        factory.asr_pool.release(recognizer)


@in_module_loop
async def test_a_lazy_brain_builds_its_dialogue_on_first_use(live):
    eager, _ = live
    factory = LocalBrainFactory(eager.persona, eager.knowledge)
    brain = factory()
    assert isinstance(brain, LocalBrain) and brain.dialogue is None
    assert brain.settings.turn_detection.silence_duration_ms == 500  # the protocol's
    assert "twenty four hours" in await ask(brain, "how long is a day on mars")
    assert brain.dialogue.knowledge is eager.knowledge and brain.dialogue.persona.name == "Rosa"
    await brain.close()


def test_bad_settings_are_refused(files):
    persona, knowledge = files
    with pytest.raises(LivehumanError, match="at least 100 ms, got 50"):
        LocalBrainFactory(persona, knowledge, silence_ms=50)
    with pytest.raises(LivehumanError, match="persona file not found"):
        LocalBrainFactory(persona.parent / "nobody.yaml", knowledge)


def test_the_end_of_turn_mode_reaches_the_brain_and_a_missing_model_is_refused(files, tmp_path, monkeypatch, caplog):
    from livehuman.speech.end_of_turn import MODEL_ENV

    persona, knowledge = files
    assert LocalBrainFactory(persona, knowledge)().listener.model_turns is None  # the protocol's fixed silence
    factory = LocalBrainFactory(persona, knowledge, end_of_turn="model", turn_pause_ms=200, turn_limit_ms=2500,
                                turn_unsure_ms=1200)
    first, second = factory(), factory()
    turns = first.listener.model_turns
    assert (turns.pause_ms, turns.limit_ms, turns.unsure_ms) == (200, 2500, 1200)
    assert second.listener.model_turns.model is turns.model  # one model for every session
    with pytest.raises(LivehumanError, match="unknown end-of-turn mode 'smart'"):
        LocalBrainFactory(persona, knowledge, end_of_turn="smart")
    with pytest.raises(LivehumanError, match="shorter than the limit"):
        LocalBrainFactory(persona, knowledge, end_of_turn="model", turn_pause_ms=3000)
    with pytest.raises(LivehumanError, match="unsure turn's silence"):
        LocalBrainFactory(persona, knowledge, end_of_turn="model", turn_unsure_ms=100)
    auto = LocalBrainFactory(persona, knowledge, end_of_turn="auto")().listener.model_turns
    assert auto.people_only and not turns.people_only
    monkeypatch.setenv(MODEL_ENV, str(tmp_path / "nowhere.onnx"))
    with pytest.raises(LivehumanError, match="end-of-turn model .*nowhere.onnx is missing.*--end-of-turn vad"):
        LocalBrainFactory(persona, knowledge, end_of_turn="model")
    # By default (auto) a missing model is no reason not to serve: every turn ends after the fixed silence.
    with caplog.at_level(logging.WARNING):
        assert LocalBrainFactory(persona, knowledge, end_of_turn="auto")().listener.model_turns is None
    assert "nowhere.onnx is missing" in caplog.text and "fixed silence" in caplog.text


def test_serve_judges_turns_by_the_kind_of_voice_unless_told():
    from livehuman.cli import build_parser
    from livehuman.live.server import local_brain_factory

    assert build_parser().parse_args(["serve"]).end_of_turn == "auto"
    assert local_brain_factory().model_turns.people_only
    assert local_brain_factory(end_of_turn="vad").model_turns is None
    assert not local_brain_factory(end_of_turn="model").model_turns.people_only


def test_recognizers_in_processes_of_their_own_are_pooled(files):
    from livehuman.brain.recognizer import ProcessASR

    persona, knowledge = files
    factory = LocalBrainFactory(persona, knowledge, asr_second_pass=False, asr_processes=True)
    asr = factory.asr_pool.acquire()
    try:
        assert isinstance(asr, ProcessASR) and asr.finish() == ""
        factory.asr_pool.release(asr)
        assert factory.asr_pool.acquire() is asr  # built once, reused
    finally:
        asr.close()
