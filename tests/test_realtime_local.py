"""LocalBrain in-process, typed: phone timings for its audio, truncation, turns, speculative replies."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import numpy as np
import pytest
import pytest_asyncio

from helpers_listen import espeak_paused, silence
from helpers_realtime import RATE, speech_24k
from livehuman.brain.answer import answer
from livehuman.brain.base import RequestError, TurnDetection
from livehuman.brain.heard import Segment, heard_text
from livehuman.brain.local import LocalBrain
from livehuman.brain.local_factory import LocalBrainFactory
from livehuman.brain.speech_events import (
    ReplyAudio,
    ReplyAudioDone,
    ReplyDone,
    ReplyStarted,
    ReplyTranscriptDelta,
    ReplyTranscriptDone,
    ReplyTruncated,
    UserSpeechStarted,
    UserSpeechStopped,
    UserTranscriptDone,
)
from livehuman.speech.audio import Audio, resample

in_module_loop = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def factory():
    make = LocalBrainFactory()
    await asyncio.to_thread(make.dialogue)  # the embedding model loads once for the module
    return make


async def collect(brain: LocalBrain, until: type) -> list:
    """The brain's events up to the first of type `until`."""
    events = []

    async def run():
        async for event in brain.events():
            events.append(event)
            if isinstance(event, until):
                return
    await asyncio.wait_for(run(), 30)
    return events


def of_type(events: list, kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]


async def ask(brain: LocalBrain, question: str) -> list:
    await brain.add_message(question)
    await brain.respond()
    return await collect(brain, ReplyDone)


@in_module_loop
async def test_phones_come_with_their_audio_and_match_it(factory):
    brain = factory()
    events = await ask(brain, "What can you do?")
    await brain.close()
    started = of_type(events, ReplyStarted)[0]
    chunks = of_type(events, ReplyAudio)
    assert {(c.response_id, c.item_id) for c in chunks} == {(started.response_id, started.item_id)}
    sent_s = 0.0
    timed = []
    for chunk in chunks:
        assert chunk.rate == RATE
        if chunk.phones:
            # Timed from the reply's start: a sentence's phones begin where the audio so far ends.
            assert chunk.phones[0].start >= sent_s - 0.001
            timed.append(chunk.phones)
        sent_s += len(chunk.samples) / chunk.rate
    assert len(timed) >= 2  # one per sentence
    audio = np.concatenate([c.samples for c in chunks])
    inside = np.zeros(len(audio), bool)
    for phones in timed:
        for p in phones:
            assert 0 <= p.start < p.end
            a, b = int(p.start * RATE), int(p.end * RATE)
            assert b <= len(audio) + 1
            inside[a:b] = True
    # Sound lies where the phones say, silence where they leave gaps.
    rms_in = np.sqrt(np.mean(audio[inside] ** 2))
    rms_out = np.sqrt(np.mean(audio[~inside] ** 2)) if (~inside).any() else 0.0
    assert rms_in > 0.05 and rms_out < rms_in / 4
    done = of_type(events, ReplyDone)[0]
    assert done.status == "completed" and isinstance(events[-2], ReplyTranscriptDone)
    assert isinstance(events[-3], ReplyAudioDone)


@in_module_loop
async def test_truncate_keeps_the_words_heard(factory):
    brain = factory()
    events = await ask(brain, "What can you do?")
    item_id = of_type(events, ReplyStarted)[0].item_id
    full = of_type(events, ReplyTranscriptDone)[0].transcript
    sentences = [c.phones for c in of_type(events, ReplyAudio) if c.phones]
    # Cut in the middle of the second sentence: the first is kept whole, the second in part.
    cut = int(1000 * (sentences[1][0].start + sentences[1][-1].end) / 2)
    await brain.truncate(item_id, cut)
    truncated = (await collect(brain, ReplyTruncated))[-1]
    assert truncated.item_id == item_id and truncated.audio_end_ms == cut
    heard = truncated.transcript
    first_sentence = of_type(events, ReplyTranscriptDelta)[0].delta.strip()
    assert heard.startswith(first_sentence) and len(heard) > len(first_sentence)
    assert full.startswith(heard) and len(heard) < len(full)
    assert brain.dialogue.history[-1] == {"role": "assistant", "content": heard}
    # Past the end of the audio is refused, and the conversation goes on.
    with pytest.raises(RequestError) as refused:
        await brain.truncate(item_id, 10**7)
    assert refused.value.param == "audio_end_ms"
    with pytest.raises(RequestError) as refused:
        await brain.cancel()
    assert refused.value.code == "response_cancel_not_active"
    await brain.close()


def test_heard_text_counts_a_word_once_its_middle_played():
    segments = [Segment(0, 1000, "One two.", (100, 900)), Segment(1000, 2000, "Three four five.", (1100, 1900))]
    assert heard_text(segments, 50) == ""
    assert heard_text(segments, 950) == "One two."
    assert heard_text(segments, 1000 + 100 + 800 * 3 / 17) == "One two. Three"
    assert heard_text(segments, 1000 + 100 + 800 * 9 / 17) == "One two. Three four"
    assert heard_text(segments, 5000) == "One two. Three four five."


@in_module_loop
async def test_manual_turns_and_a_new_turn_detection_apply(factory, tmp_path):
    brain = factory()
    question = speech_24k(tmp_path, "What is your name?")
    await brain.update(replace(brain.settings, turn_detection=None))
    with pytest.raises(RequestError) as refused:
        await brain.commit_audio()  # nothing heard yet
    assert refused.value.code == "input_audio_buffer_commit_empty"
    await brain.push_audio(question, RATE)
    await brain.commit_audio()
    events = await collect(brain, UserTranscriptDone)
    assert not of_type(events, UserSpeechStarted)  # no VAD with manual turns
    assert events[-1].transcript.startswith("what is your")
    # Back to server VAD, with a long end-of-turn silence: the spoken question ends its turn.
    await brain.update(replace(brain.settings, turn_detection=TurnDetection(silence_duration_ms=800)))
    assert brain.settings.turn_detection.silence_duration_ms == 800
    await brain.push_audio(resample(Audio(question, RATE), 16000).samples, 16000)
    events = await collect(brain, ReplyDone)
    started, stopped = of_type(events, UserSpeechStarted), of_type(events, UserSpeechStopped)
    assert len(started) == 1 and len(stopped) == 1 and started[0].item_id == stopped[0].item_id
    assert 0 < stopped[0].audio_end_ms - started[0].audio_start_ms < len(question) / RATE * 1000
    await brain.close()


@in_module_loop
async def test_answer_collects_a_whole_spoken_reply_with_phones(factory):
    brain = factory()
    result = await answer(brain, text="What is your name?")
    await brain.close()
    speech = result.speech
    assert result.heard == "What is your name?"
    assert speech.audio.rate == 24000 and speech.audio.duration > 1.0
    assert "Ava" in speech.text
    assert speech.phones and speech.phones[-1].end <= speech.audio.duration + 0.01
    assert all(a.start <= b.start for a, b in zip(speech.phones, speech.phones[1:]))


@in_module_loop
async def test_say_speaks_verbatim_and_greets_on_an_empty_turn(factory):
    brain = factory()
    await brain.say("The network is down, so I will answer offline for now.")
    events = await collect(brain, ReplyDone)
    assert events[-1].status == "completed"
    said = of_type(events, ReplyTranscriptDone)[0].transcript
    assert said == "The network is down, so I will answer offline for now."
    assert of_type(events, ReplyAudio)
    assert brain.dialogue.history[-1]["content"].startswith("The network is down")
    await brain.respond()  # nothing new from the user: invite a question
    assert of_type(await collect(brain, ReplyDone), ReplyTranscriptDone)[0].transcript.endswith("?")
    await brain.close()


# -- speculative replies: prepared during a pause, spoken only if the turn ends on the same words ----


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def live_factories(factory):
    """Two brain factories alike but for speculation (first-pass ASR, as `livehuman serve` uses)."""
    common = dict(persona=factory.persona, knowledge=factory.knowledge, asr_second_pass=False, silence_ms=500)
    plain = LocalBrainFactory(**common)
    speculating = LocalBrainFactory(**common, speculate_ms=150)
    speculating.asr_pool = plain.asr_pool  # the same recognizer settings; built once
    await asyncio.to_thread(plain.warm_up)
    return plain, speculating


async def spoken_turn(brain: LocalBrain, audio: np.ndarray) -> list:
    """Feed `audio` (24 kHz) in 20 ms chunks as a microphone does, one every 20 ms (a reply is
    prepared at a pause only from the words heard before it); the events up to the reply's end."""
    step = RATE // 50
    for i in range(0, len(audio), step):
        await brain.push_audio(audio[i:i + step], RATE)
        await asyncio.sleep(step / RATE)
    return await collect(brain, ReplyDone)


def reply_of(events: list) -> tuple[str, str, np.ndarray]:
    user = [e.transcript for e in of_type(events, UserTranscriptDone)]
    text = [e.transcript for e in of_type(events, ReplyTranscriptDone)]
    audio = [e.samples for e in of_type(events, ReplyAudio)]
    assert len(user) == 1 and len(text) == 1 and audio
    return user[0], text[0], np.concatenate(audio)


def same_voice(a: np.ndarray, b: np.ndarray) -> bool:
    """Two syntheses of the same words (espeak-ng varies its timing by a few ms from run to run)."""
    rms = lambda x: float(np.sqrt(np.mean(x**2)))  # noqa: E731
    return abs(len(a) - len(b)) <= 0.03 * len(b) and abs(rms(a) - rms(b)) <= 0.1 * rms(b)


async def answer_both_ways(live_factories, audio: np.ndarray):
    plain, speculating = live_factories
    results = []
    for make in (plain, speculating):
        brain = make()
        events = await spoken_turn(brain, audio)
        results.append((brain, events, reply_of(events)))
        history = list(brain.dialogue.history)
        await brain.close()
        results[-1] += (history,)
    return results


@pytest.mark.slow
@in_module_loop
async def test_a_prepared_reply_is_the_reply(live_factories, tmp_path):
    audio = speech_24k(tmp_path, "Is it free?")
    (plain, _, expected, plain_history), (brain, events, got, history) = await answer_both_ways(live_factories, audio)
    assert brain.speculations == {"used": 1, "missed": 0, "discarded": 0}
    assert plain.speculations == {"used": 0, "missed": 0, "discarded": 0}
    # The same words and the same voice as without speculation, in one response.
    assert got[0] == expected[0] and got[0].strip()
    assert got[1] == expected[1] and got[1].strip()
    assert same_voice(got[2], expected[2])
    assert len(of_type(events, ReplyStarted)) == 1
    # Nothing was said before the turn ended.
    stopped = first_index(events, UserSpeechStopped)
    assert stopped < first_index(events, ReplyStarted) < first_index(events, ReplyAudio)
    assert history == plain_history and [m["role"] for m in history] == ["user", "assistant"]


@pytest.mark.slow
@in_module_loop
async def test_a_prepared_reply_is_thrown_away_when_the_user_speaks_on(live_factories, tmp_path):
    first, second = speech_24k(tmp_path, "What is livehuman?", 0.5, 0.0), speech_24k(tmp_path, "Is it free?", 0.0, 1.2)
    # Cut espeak's own trailing silence so that the pause is 300 ms: long enough to prepare a
    # reply (150 ms), too short to end the turn (500 ms).
    loud = np.flatnonzero(np.abs(first) > 0.01)
    audio = np.concatenate([first[: loud[-1] + 1], np.zeros(int(0.3 * RATE), np.float32), second])
    (_, _, expected, plain_history), (brain, events, got, history) = await answer_both_ways(live_factories, audio)
    assert brain.speculations["discarded"] == 1
    assert brain.speculations["used"] + brain.speculations["missed"] == 1  # the final pause's
    # One turn, one reply: to the whole question, exactly as without speculation.
    assert len(of_type(events, UserSpeechStopped)) == 1
    assert len(of_type(events, ReplyStarted)) == 1
    assert got[0] == expected[0] and len(got[0].split()) >= 4
    assert got[1] == expected[1]
    assert same_voice(got[2], expected[2])
    # The reply prepared for the first half left no trace in the conversation.
    assert history == plain_history and [m["role"] for m in history] == ["user", "assistant"]


def first_index(events: list, kind: type) -> int:
    return next(i for i, e in enumerate(events) if isinstance(e, kind))


@pytest.mark.slow
@in_module_loop
async def test_the_model_waits_out_a_thinking_pause_and_drops_the_reply_it_prepared(live_factories, tmp_path):
    """Model turn-taking (brain/turn_end.py) in the whole brain: the user pauses 700 ms after "what is".
    The reply prepared in the pause is dropped without a sound: nothing is said before the one turn ends."""
    plain, _ = live_factories
    patient = LocalBrainFactory(persona=plain.persona, knowledge=plain.knowledge, asr_second_pass=False,
                                speculate_ms=150, end_of_turn="model")
    patient.asr_pool, patient._embedder = plain.asr_pool, plain._embedder  # built once
    # One of test_listener's pause recordings (heard as not finished at the pause), as a microphone sends it.
    first, second = espeak_paused("What is", "livehuman?")
    audio = resample(Audio(np.concatenate([silence(0.5), first, silence(0.7), second, silence(3.0)]), 16000), RATE).samples
    brain = patient()
    events = await spoken_turn(brain, audio)
    assert brain.listener.verdicts[0] is False, brain.listener.waits  # unfinished at the pause
    assert len(of_type(events, UserSpeechStopped)) == 1 and len(of_type(events, ReplyStarted)) == 1
    assert brain.speculations["discarded"] >= 1  # the reply prepared in the pause, never heard
    assert first_index(events, UserSpeechStopped) < first_index(events, ReplyStarted) < first_index(events, ReplyAudio)
    user, _, _ = reply_of(events)
    assert user.split()[:2] == ["what", "is"] and len(user.split()) > 2  # both halves (pocketsphinx mishears some)
    assert [m["role"] for m in brain.dialogue.history] == ["user", "assistant"]
    await brain.close()
