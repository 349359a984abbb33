"""A live reply without phones: the phones heard in it blended into the frames that can wait for them."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from livehuman.bench.lipsync import label_frames
from livehuman.motion.audio_mouth import audio_mouth_controls
from livehuman.motion.closures import NATURAL
from livehuman.motion.recognize import StreamingPhoneRecognizer
from livehuman.motion.stream import StreamingLipSync
from livehuman.speech.audio import resample
from livehuman.speech.flite import flite_speech

FPS = 25.0
# Not a sentence any network or setting was tuned on.
TEXT = "The box was thrown beside the parked truck. Four hours of steady work faced us. My mother bought a bag of plums."


@pytest.fixture(scope="module")
def speech():
    """flite's rms, heard as a person's voice (OpenAI's voices are heard so), with its exact phones."""
    return flite_speech(TEXT, "rms")


def stream(speech, hold: bool, recognizer=True, counts=None):
    """The reply pushed in 100 ms chunks at the live brain's rate, its frames taken after each."""
    audio = resample(speech.audio, 24000)
    lip = StreamingLipSync(FPS, voice=NATURAL, recognizer=StreamingPhoneRecognizer() if recognizer else None)
    out = []
    for start in range(0, len(audio.samples), 2400):
        lip.push(audio.samples[start : start + 2400], audio.rate)
        out += lip.frames(hold=hold)
        if counts is not None:
            counts.append((len(out), lip.held))
    return out + lip.flush()


def openness_corr(controls, phones) -> float:
    opening = np.array([c.jaw * (1 - c.press) for c in controls])
    return float(np.corrcoef(opening, label_frames(phones, len(opening), FPS).openness)[0, 1])


def test_frames_that_wait_for_their_phones_follow_the_speech_as_a_render_does(speech):
    sound = openness_corr(stream(speech, hold=False), speech.phones)
    held = openness_corr(stream(speech, hold=True), speech.phones)
    render = openness_corr(audio_mouth_controls(speech.audio, FPS, voice=NATURAL), speech.phones)
    # measured: the sound alone 0.65, held 0.71, a render of the file 0.71
    assert held > sound + 0.03
    assert abs(held - render) < 0.02


def test_frames_that_do_not_wait_are_the_sounds_own(speech):
    assert stream(speech, hold=False) == stream(speech, hold=False, recognizer=False)


def test_held_frames_come_once_their_phones_are_known_and_all_at_the_end(speech):
    counts = []
    held = stream(speech, hold=True, counts=counts)
    free = stream(speech, hold=False, recognizer=False)
    assert len(held) == len(free)
    # while the reply streams in, a few tenths of a second of frames wait for their phones
    waiting = [n for _, n in counts[10:]]
    assert min(waiting) >= 5 and max(waiting) <= 40
    assert counts[-1][0] < len(held) - 5  # the last ones come with the flush


def test_a_recognizer_set_during_a_reply_is_used_from_the_next(speech):
    lip = StreamingLipSync(FPS, voice=NATURAL)
    audio = resample(speech.audio, 24000)
    half = len(audio.samples) // 2
    lip.push(audio.samples[:half], audio.rate)
    lip.recognizer = StreamingPhoneRecognizer()  # (a session's is lent once made)
    lip.push(audio.samples[half:], audio.rate)
    first = lip.frames(hold=True) + lip.flush()
    assert first == stream(speech, hold=False, recognizer=False)  # this reply had begun without it
    lip.reset()
    fresh = StreamingLipSync(FPS, voice=NATURAL, recognizer=StreamingPhoneRecognizer())
    frames = []
    for one in (lip, fresh):
        one.push(audio.samples, audio.rate)
        frames.append(one.frames(hold=True))
        assert one.held > 0  # the last frames wait for the phones after them
        frames[-1] += one.flush()
    assert frames[0] == frames[1] and frames[0] != first


def test_a_reply_that_brings_its_phones_moves_by_them_alone(speech):
    audio = resample(speech.audio, 24000)
    frames = []
    for recognizer in (StreamingPhoneRecognizer(), None):
        lip = StreamingLipSync(FPS, voice=NATURAL, recognizer=recognizer)
        lip.push(audio.samples, audio.rate, speech.phones)  # the offline brain's replies come with their phones
        frames.append(lip.frames(hold=True) + lip.flush())
    assert frames[0] == frames[1]


def test_a_recognizer_set_before_a_reply_is_used_for_it(speech):
    lip = StreamingLipSync(FPS, voice=NATURAL)
    lip.recognizer = StreamingPhoneRecognizer()
    audio = resample(speech.audio, 24000)
    lip.push(audio.samples, audio.rate)
    assert lip.frames(hold=True) and lip.held > 0


def test_a_recognizer_process_that_dies_leaves_the_reply_to_its_sound_and_the_next_heard_again(speech):
    from livehuman.brain.recognizer import ProcessPhones

    recognizer = ProcessPhones()
    try:
        lip = StreamingLipSync(FPS, voice=NATURAL, recognizer=recognizer)
        audio = resample(speech.audio, 24000)
        frames, half = [], len(audio.samples) // 2
        for start in range(0, len(audio.samples), 2400):
            if start >= half and not recognizer.restarts and recognizer._process.is_alive():
                os.kill(recognizer._process.pid, signal.SIGKILL)  # out of memory, say
                recognizer._process.join()
            lip.push(audio.samples[start : start + 2400], audio.rate)
            frames += lip.frames(hold=True)
        frames += lip.flush()
        assert len(frames) == len(stream(speech, hold=False, recognizer=False))
        lip.reset()  # the next reply: a new process hears it
        lip.push(audio.samples, audio.rate)
        lip.frames(hold=True)
        assert lip.held > 0 and recognizer.restarts == 1
    finally:
        recognizer.close()


def test_a_server_of_a_remote_brain_makes_a_recognizer_of_its_replies_phones_at_start():
    from livehuman.brain.recognizer import PhonesPool, ProcessPhones
    from livehuman.live.server import build_live_server

    url = "ws://127.0.0.1:9/v1"  # (never reached: no session is started)
    plain = build_live_server(brain="realtime", realtime_url=url, render_workers=0, reply_phones=False)
    assert plain.config.reply_phones is None
    server = build_live_server(brain="realtime", realtime_url=url, render_workers=0)
    try:
        pool = server.config.reply_phones
        assert isinstance(pool, PhonesPool) and pool in server.config.resources
        server.config.warm_up()  # as the server's start does
        assert len(pool._idle) == 1 and isinstance(pool._idle[0], ProcessPhones)
        # one that dies is started again, and /metrics counts it
        recognizer = pool.acquire()
        os.kill(recognizer._process.pid, signal.SIGKILL)
        recognizer._process.join()
        pool.release(recognizer)  # (its reset finds it dead and starts another)
        assert b'livehuman_worker_restarts_total{kind="phones"} 1.0' in server.metrics.render()
    finally:
        for resource in server.config.resources + plain.config.resources:
            resource.close()
    assert not pool._idle
