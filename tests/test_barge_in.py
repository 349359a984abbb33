"""Barge-in only for speech: the rule on real sounds, and the offline brain going on through a
cough or a "yeah" while it speaks but stopping for a real interruption."""

from __future__ import annotations

import asyncio
import subprocess

import numpy as np
import pytest
import pytest_asyncio

from helpers_listen import espeak, flite, record_events, speak_into
from livehuman.bench.barge_in import HUMS, noises, said
from livehuman.brain.barge_in import BargeIn, BargeInRule, backchannel, bids_for_turn
from livehuman.brain.local_factory import LocalBrainFactory
from livehuman.brain.speech_events import (ReplyAudio, ReplyDone, ReplyHeld, ReplyResumed, UserSpeechStarted,
                                           UserTranscriptDone)
from livehuman.errors import LivehumanError

RATE = 16000
in_module_loop = pytest.mark.asyncio(loop_scope="module")


def trimmed(x: np.ndarray) -> np.ndarray:
    loud = np.flatnonzero(np.abs(x) > 0.02)
    return x[loud[0] : loud[-1] + 1]


def verdicts(rule: BargeInRule, sound: np.ndarray, words: str = "") -> list[str]:
    """The rule's verdict after each 20 ms of `sound` (and 0.5 s of silence after it)."""
    audio = np.concatenate([sound, np.zeros(RATE // 2, np.float32)])
    judge = BargeIn(rule, audio[:320])
    out = [judge.verdict(words)]
    for i in range(320, len(audio), 320):
        judge.hear(audio[i : i + 320])
        out.append(judge.verdict(words))
    return out


def test_backchannel_words():
    for words in ("yeah", "mm-hm", "uh-huh", "okay okay", "oh yeah", "i see", "Yeah."):
        assert backchannel(words), words
    for words in ("", "wait", "i", "yeah but what about the price", "no", "stop", "what"):
        assert not backchannel(words), words


def test_coughs_knocks_and_claps_are_no_interruption():
    rule = BargeInRule()
    for name, sound in noises():
        if name in ("cough", "knock", "clap"):
            assert "interrupt" not in verdicts(rule, sound), name


def test_sustained_speech_interrupts_within_its_first_half_second():
    rule = BargeInRule()
    for sound in (espeak("wait, tell me about the price"), flite("actually I meant the price", "awb"),
                  espeak("hold on a second", "en-gb")):
        said = verdicts(rule, trimmed(sound))
        first = said.index("interrupt")  # raises if it never interrupts
        assert rule.confirm_ms / 20 <= first + 1 <= 25  # not before the confirm time; by 500 ms of audio


def test_a_short_backchannel_ends_before_it_could_interrupt():
    # "yeah" said quickly lasts under 200 ms: over before it has gone on for the confirm time.
    sound = trimmed(espeak("yeah", speed=300))
    assert "interrupt" not in verdicts(BargeInRule(), sound)
    # The same sound with no confirm time interrupts at once, as every sound did before.
    assert verdicts(BargeInRule(confirm_ms=0), sound)[0] == "interrupt"


def test_backchannel_words_hold_back_until_the_long_limit():
    sound = trimmed(espeak("wait, tell me about the price"))
    rule = BargeInRule()
    plain, held = verdicts(rule, sound, ""), verdicts(rule, sound, "yeah")
    assert held.index("interrupt") > plain.index("interrupt")
    judge = BargeIn(rule, sound)
    assert judge.voiced_ms >= rule.long_ms and judge.verdict("yeah") == "interrupt"


def test_a_longer_confirm_time_lets_an_mm_hm_through():
    sound = trimmed(espeak(HUMS["mm-hm"]["espeak"]))  # a hum, as espeak-ng's phonemes: about 0.8 s
    assert "interrupt" in verdicts(BargeInRule(), sound)
    assert "interrupt" not in verdicts(BargeInRule(confirm_ms=900, long_ms=1500), sound)


def test_the_sound_sets_hums_are_hummed_not_spelled():
    # Written "mm-hm", both synthesizers say the letters: "em em aitch em" (espeak-ng: "Em'Em,eItS'Em").
    assert "eItS" in subprocess.run(["espeak-ng", "-q", "-x", "mm-hm"], capture_output=True, text=True).stdout
    for hum in ("mm-hm", "mhm", "hmm"):
        espeak_phonemes = subprocess.run(["espeak-ng", "-q", "-x", said(hum, "espeak")], capture_output=True,
                                         text=True).stdout
        assert not any(letter in espeak_phonemes for letter in ("E", "eI")), (hum, espeak_phonemes)
        flite_phones = subprocess.run(["flite", "-ps", "-t", said(hum, "flite"), "-o", "/dev/null"],
                                      capture_output=True, text=True).stdout.split()
        assert "ch" not in flite_phones and "eh" not in flite_phones, (hum, flite_phones)  # no "aitch", no "em"


def test_bad_settings_fail_clearly():
    with pytest.raises(LivehumanError, match="0 ms or more"):
        BargeInRule(confirm_ms=-1)
    with pytest.raises(LivehumanError, match="between 0 and 1"):
        BargeInRule(voicing=1.5)


# Through the real offline brain: a reply plays while the user makes a sound.

@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def factory():
    make = LocalBrainFactory(asr_second_pass=False)
    await asyncio.to_thread(make.warm_up)
    return make


async def sound_over_reply(factory, sound: np.ndarray, rule: BargeInRule | None = BargeInRule(),
                           holds: bool = False) -> tuple[object, list]:
    """Ask a question, and once its reply's audio flows, send `sound` (16 kHz) at real-time pace
    while the reply plays; the brain's events until it has heard the sound out (or answered it).
    `holds`: the brain is told its player can hold the reply (as the live session does)."""
    factory.barge_in = rule
    try:
        made = factory()
    finally:
        factory.barge_in = BargeInRule()
    made.holds_replies = holds
    events, task = record_events(made)
    await made.add_message("What is livehuman?")
    await made.respond()
    for _ in range(300):
        if any(isinstance(e, ReplyAudio) for e in events):
            break
        await asyncio.sleep(0.05)
    await speak_into(made, np.concatenate([np.zeros(RATE // 4, np.float32), sound, np.zeros(RATE, np.float32)]))
    for _ in range(60):  # heard out: ignored, or answered after its transcript
        if made.overlaps["ignored"] or any(isinstance(e, UserTranscriptDone) for e in events):
            break
        await asyncio.sleep(0.05)
    await made.close()
    task.cancel()
    return made, events


def speech_started(events: list) -> list:
    return [e for e in events if isinstance(e, UserSpeechStarted)]


# Without pacing the brain sends a reply's audio at once; what stops the avatar in a live session
# (and at a /v1/realtime client) is the user's speech starting: UserSpeechStarted.

@pytest.mark.slow
@in_module_loop
async def test_a_yeah_over_the_reply_does_not_stop_it_nor_start_a_turn(factory):
    brain, events = await sound_over_reply(factory, trimmed(espeak("yeah", speed=300)))
    assert brain.overlaps == {"interrupted": 0, "ignored": 1, "held": 0}  # the VAD took it for speech; the rule did not
    assert not speech_started(events)
    assert not any(isinstance(e, UserTranscriptDone) for e in events)  # no turn: nothing to answer


@pytest.mark.slow
@in_module_loop
async def test_the_same_yeah_stops_it_without_the_rule(factory):
    brain, events = await sound_over_reply(factory, trimmed(espeak("yeah", speed=300)), rule=None)
    assert len(speech_started(events)) == 1


@pytest.mark.slow
@in_module_loop
async def test_a_cough_over_the_reply_does_not_stop_it(factory):
    cough = next(x for name, x in noises() if name == "cough")
    brain, events = await sound_over_reply(factory, cough)
    assert brain.overlaps["interrupted"] == 0
    assert not speech_started(events)


@pytest.mark.slow
@in_module_loop
async def test_a_real_interruption_stops_the_reply_and_is_answered(factory):
    brain, events = await sound_over_reply(factory, trimmed(espeak("wait, tell me about the price")))
    assert brain.overlaps["interrupted"] == 1
    assert len(speech_started(events)) == 1
    done = [e for e in events if isinstance(e, UserTranscriptDone)]
    assert done and "price" in done[0].transcript
    # Its turn starts where the speech did, not where the rule decided (the truncation and the
    # live session's latency figures count from there).
    replies = [e for e in events if isinstance(e, ReplyDone)]
    assert len(replies) >= 1


def test_a_whole_sound_bids_for_the_turn_with_a_word_beyond_backchannels_and_function_words():
    for words in ("wait stop", "stop please", "what", "talk the", "who are you", "and the price"):
        assert bids_for_turn(words), words
    # What pocketsphinx makes of backchannels and hums ("mm-hm" → "you", "hmm" → "the").
    for words in ("", "yes", "i see", "you", "it you", "the", "of the", "or her", "can i", "them him", "a"):
        assert not bids_for_turn(words), words


def held_verdicts(rule: BargeInRule, sound: np.ndarray) -> list[str]:
    audio = np.concatenate([sound, np.zeros(RATE // 2, np.float32)])
    judge = BargeIn(rule, audio[:320])
    out = [judge.held_verdict()]
    for i in range(320, len(audio), 320):
        judge.hear(audio[i : i + 320])
        out.append(judge.held_verdict())
    return out


def test_speech_holds_the_reply_within_a_quarter_second_and_noises_do_not():
    rule = BargeInRule()
    for sound in (espeak("yeah"), espeak("stop please"), flite(HUMS["mm-hm"]["flite"], "slt"), flite("wait, stop", "rms")):
        said = held_verdicts(rule, trimmed(sound))
        assert rule.hold_ms / 20 <= said.index("hold") + 1 <= 12  # by 240 ms of audio (raises if never)
    for name, sound in noises():
        if name in ("cough", "knock", "clap"):
            assert set(held_verdicts(rule, sound)) == {"wait"}, name


def test_a_held_sound_interrupts_by_its_whole_words_or_its_length():
    rule = BargeInRule()
    short = BargeIn(rule, trimmed(espeak("stop please")))
    assert short.held_verdict() == "hold"  # not long enough to interrupt on its length
    assert short.interrupts("stop please") and not short.interrupts("you") and not short.interrupts("yes")
    breath = BargeIn(rule, trimmed(espeak("yeah"))[: RATE // 8])
    assert not breath.interrupts("stop")  # under hold_min_voiced_ms of voice: no bid, whatever was heard
    long = BargeIn(rule, trimmed(espeak("wait, tell me about the price, and about the voices too")))
    assert long.held_verdict() == "interrupt"


def test_serve_passes_the_setting_to_its_brains():
    from livehuman.cli import build_parser
    from livehuman.live.server import local_brain_factory

    assert build_parser().parse_args(["serve", "--barge-in-ms", "500"]).barge_in_ms == 500
    assert local_brain_factory(barge_in_ms=500).barge_in.confirm_ms == 500
    assert local_brain_factory().barge_in == BargeInRule()
    assert local_brain_factory(barge_in_ms=0).barge_in is None  # any speech stops the reply at once
    with pytest.raises(LivehumanError, match="0 ms or more"):
        local_brain_factory(barge_in_ms=-5)


# With a player that holds the reply (the live session): held at once, then played on or stopped.

def held_events(events: list) -> list[str]:
    kinds = {ReplyHeld: "held", ReplyResumed: "resumed", UserSpeechStarted: "started"}
    return [kinds[type(e)] for e in events if type(e) in kinds]


@pytest.mark.slow
@in_module_loop
async def test_a_held_reply_plays_on_after_a_backchannel(factory):
    brain, events = await sound_over_reply(factory, trimmed(espeak("okay")), holds=True)
    assert held_events(events) == ["held", "resumed"]
    assert brain.overlaps == {"interrupted": 0, "ignored": 1, "held": 1}
    assert not any(isinstance(e, UserTranscriptDone) for e in events)


@pytest.mark.slow
@in_module_loop
async def test_a_held_reply_stops_for_a_short_interruption_and_answers_it(factory):
    brain, events = await sound_over_reply(factory, trimmed(flite("stop please", "slt")), holds=True)
    assert held_events(events) == ["held", "started"]
    assert brain.overlaps["interrupted"] == 1
    assert [e for e in events if isinstance(e, UserTranscriptDone)]


@pytest.mark.slow
@in_module_loop
async def test_a_cough_does_not_even_hold_the_reply(factory):
    cough = next(x for name, x in noises() if name == "cough")
    brain, events = await sound_over_reply(factory, cough, holds=True)
    assert held_events(events) == []


# End to end: a live server in a network namespace and a real aiortc client.

@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def live_server(netns):
    from helpers_live import start_live_server

    live, runner = await start_live_server(netns.addresses[0], max_sessions=1, inactivity_timeout=6.0)
    yield live
    await runner.cleanup()


@pytest.mark.slow
@in_module_loop
async def test_a_quick_yeah_into_the_microphone_does_not_stop_a_live_answer(live_server):
    import time

    from livehuman.live.client import LiveClient
    from helpers_live import mic48
    from livehuman.speech.audio import Audio

    yeah = mic48(Audio(trimmed(espeak("yeah", speed=300)), RATE))
    client = LiveClient(live_server.url)
    await client.connect()
    try:
        asked = time.monotonic()
        client.send({"type": "text", "text": "What is livehuman?"})  # its answer lasts about ten seconds
        await client.wait_for(lambda: client.first_voiced_after(asked), 30)
        await asyncio.sleep(1.0)
        said = time.monotonic()
        await client.say(yeah)
        session = live_server.sessions[client.session]
        await client.wait_for(lambda: session.brain.overlaps["ignored"] or session.barge_ins or None, 10)
        await asyncio.sleep(0.5)
        assert session.brain.overlaps == {"interrupted": 0, "ignored": 1, "held": 1}
        assert session.holds == {"held": 1, "resumed": 1}  # paused while it was judged, then played on
        assert not session.barge_ins  # nothing stopped the answer
        await client.wait_for(lambda: client.voiced_seconds(said) > 2.0 or None, 10)  # it plays on
        assert not client.event("transcript", since=said, role="user")
    finally:
        await client.close()
