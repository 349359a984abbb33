"""LocalBrain in-process: phone timings for its audio, and what truncation keeps."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
import pytest_asyncio

from helpers_realtime import RATE, first_index, pcm16_b64, pcm16_decode, speech_24k
from livehuman.brain.events import PHONES_EVENT, is_extension, validate_server_event
from livehuman.brain.answer import answer
from livehuman.brain.heard import Segment, heard_text
from livehuman.brain.local import LocalBrain
from livehuman.brain.local_factory import LocalBrainFactory

in_module_loop = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def factory():
    make = LocalBrainFactory()
    await asyncio.to_thread(make.dialogue)  # the embedding model loads once for the module
    return make


async def collect(brain: LocalBrain, until: str) -> list[dict]:
    events = []
    async def run():
        async for event in brain.events():
            if not is_extension(event):
                validate_server_event(event)
            events.append(event)
            if event["type"] == until:
                return
    await asyncio.wait_for(run(), 30)
    return events


@in_module_loop
async def test_phones_come_before_their_audio_and_match_it(factory):
    brain = factory()
    await collect(brain, "session.created")
    await brain.send({"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": "What can you do?"}]}})
    await brain.send({"type": "response.create"})
    events = await collect(brain, "response.done")
    await brain.close()
    sent_ms = 0.0
    chunks = []
    phones_events = []
    for event in events:
        if event["type"] == PHONES_EVENT:
            # It describes audio not sent yet, starting exactly where the audio so far ends.
            assert abs(event["audio_start_ms"] - sent_ms) <= 1
            phones_events.append(event)
        elif event["type"] == "response.output_audio.delta":
            chunks.append(pcm16_decode(event["delta"]))
            sent_ms += len(chunks[-1]) * 1000 / RATE
    assert len(phones_events) >= 2  # one per sentence
    audio = np.concatenate(chunks)
    inside = np.zeros(len(audio), bool)
    for event in phones_events:
        item = event["item_id"]
        assert item == events[-1]["response"]["output"][0]["id"]
        for p in event["phones"]:
            assert 0 <= p["start"] < p["end"]
            a = int((event["audio_start_ms"] / 1000 + p["start"]) * RATE)
            b = int((event["audio_start_ms"] / 1000 + p["end"]) * RATE)
            assert b <= len(audio) + 1
            inside[a:b] = True
    # Sound lies where the phones say, silence where they leave gaps.
    rms_in = np.sqrt(np.mean(audio[inside] ** 2))
    rms_out = np.sqrt(np.mean(audio[~inside] ** 2)) if (~inside).any() else 0.0
    assert rms_in > 0.05 and rms_out < rms_in / 4


@in_module_loop
async def test_truncate_keeps_the_words_heard(factory):
    brain = factory()
    await brain.send({"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": "What can you do?"}]}})
    await brain.send({"type": "response.create"})
    events = await collect(brain, "response.done")
    item = events[-1]["response"]["output"][0]
    full = item["content"][0]["transcript"]
    phones = [e for e in events if e["type"] == PHONES_EVENT]
    # Cut in the middle of the second sentence: the first is kept whole, the second in part.
    second = phones[1]
    cut = second["audio_start_ms"] + int(1000 * (second["phones"][0]["start"] + second["phones"][-1]["end"]) / 2)
    await brain.send({"type": "conversation.item.truncate", "item_id": item["id"], "content_index": 0,
                      "audio_end_ms": cut})
    truncated = (await collect(brain, "conversation.item.truncated"))[-1]
    assert truncated["audio_end_ms"] == cut
    await brain.send({"type": "conversation.item.retrieve", "item_id": item["id"]})
    heard = (await collect(brain, "conversation.item.retrieved"))[-1]["item"]["content"][0]["transcript"]
    first_sentence = next(e["delta"] for e in events if e["type"] == "response.output_audio_transcript.delta")
    first_sentence = first_sentence.strip()
    assert heard.startswith(first_sentence) and len(heard) > len(first_sentence)
    assert full.startswith(heard) and len(heard) < len(full)
    assert brain.dialogue.history[-1] == {"role": "assistant", "content": heard}
    # Past the end of the audio is an error, and the session goes on.
    await brain.send({"type": "conversation.item.truncate", "event_id": "e1", "item_id": item["id"],
                      "content_index": 0, "audio_end_ms": 10**7})
    error = (await collect(brain, "error"))[-1]["error"]
    assert error["event_id"] == "e1" and error["param"] == "audio_end_ms"
    await brain.close()


def test_heard_text_counts_a_word_once_its_middle_played():
    segments = [Segment(0, 1000, "One two.", (100, 900)), Segment(1000, 2000, "Three four five.", (1100, 1900))]
    assert heard_text(segments, 50) == ""
    assert heard_text(segments, 950) == "One two."
    assert heard_text(segments, 1000 + 100 + 800 * 3 / 17) == "One two. Three"
    assert heard_text(segments, 1000 + 100 + 800 * 9 / 17) == "One two. Three four"
    assert heard_text(segments, 5000) == "One two. Three four five."


@in_module_loop
async def test_session_update_turn_detection(factory):
    brain = factory()
    await brain.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {
        "turn_detection": {"type": "semantic_vad", "eagerness": "high"}}}}})
    session = (await collect(brain, "session.updated"))[-1]["session"]
    assert session["audio"]["input"]["turn_detection"] == {
        "type": "semantic_vad", "eagerness": "high", "create_response": True, "interrupt_response": True}
    await brain.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {
        "turn_detection": {"type": "server_vad", "silence_duration_ms": 300}}}}})
    turn = (await collect(brain, "session.updated"))[-1]["session"]["audio"]["input"]["turn_detection"]
    assert turn["silence_duration_ms"] == 300 and turn["threshold"] == 0.5 and turn["create_response"] is True
    # An update that leaves turn detection out keeps it.
    await brain.send({"type": "session.update", "session": {"type": "realtime", "instructions": "Hi."}})
    assert (await collect(brain, "session.updated"))[-1]["session"]["audio"]["input"]["turn_detection"] == turn
    await brain.send({"type": "session.update", "event_id": "e9", "session": {"type": "realtime", "audio": {
        "output": {"format": {"type": "audio/pcmu"}}}}})
    error = (await collect(brain, "error"))[-1]["error"]
    assert error["event_id"] == "e9" and error["param"] == "session.audio.output.format"
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
    events = await collect(brain, "response.done")
    done = events[-1]["response"]
    assert done["status"] == "completed"
    assert done["output"][0]["content"][0]["transcript"] == "The network is down, so I will answer offline for now."
    assert any(e["type"] == "response.output_audio.delta" for e in events)
    assert brain.dialogue.history[-1]["content"].startswith("The network is down")
    await brain.send({"type": "response.create"})  # nothing new from the user: invite a question
    done = (await collect(brain, "response.done"))[-1]["response"]
    assert done["output"][0]["content"][0]["transcript"].endswith("?")
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


async def spoken_turn(brain: LocalBrain, audio: np.ndarray) -> list[dict]:
    """Feed `audio` (24 kHz) in 20 ms chunks; the events up to the reply's response.done."""
    await collect(brain, "session.created")
    step = RATE // 50
    for i in range(0, len(audio), step):
        await brain.send({"type": "input_audio_buffer.append", "audio": pcm16_b64(audio[i:i + step])})
    return await collect(brain, "response.done")


def reply_of(events: list[dict]) -> tuple[str, str, np.ndarray]:
    user = [e["transcript"] for e in events if e["type"] == "conversation.item.input_audio_transcription.completed"]
    text = [e["transcript"] for e in events if e["type"] == "response.output_audio_transcript.done"]
    audio = [pcm16_decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta"]
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
    assert len([e for e in events if e["type"] == "response.created"]) == 1
    # Nothing was said before the turn ended.
    stopped = first_index(events, "input_audio_buffer.speech_stopped")
    assert stopped < first_index(events, "response.created") < first_index(events, "response.output_audio.delta")
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
    assert len([e for e in events if e["type"] == "input_audio_buffer.speech_stopped"]) == 1
    assert len([e for e in events if e["type"] == "response.created"]) == 1
    assert got[0] == expected[0] and len(got[0].split()) >= 4
    assert got[1] == expected[1]
    assert same_voice(got[2], expected[2])
    # The reply prepared for the first half left no trace in the conversation.
    assert history == plain_history and [m["role"] for m in history] == ["user", "assistant"]
