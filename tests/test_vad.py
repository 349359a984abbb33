"""SileroVAD on real synthetic speech: events at the right times, none on silence or noise."""

import numpy as np
import pytest

from helpers_listen import RATE, espeak, flite, silence, voiced_span
from livehuman.speech.vad import SileroVAD, VadEvent

TOLERANCE = 0.1  # seconds


def feed(vad: SileroVAD, audio: np.ndarray, chunk: int) -> list[VadEvent]:
    events = []
    for i in range(0, len(audio), chunk):
        events += vad.process(audio[i : i + chunk])
    return events


@pytest.fixture(scope="module")
def vad():
    return SileroVAD()


@pytest.mark.parametrize(
    "make,text,chunk",
    [
        (espeak, "Hello, what can you tell me about this project?", 320),
        (flite, "How much does it cost to run it on a laptop?", 480),
        (espeak, "Good morning. I would like to know what it runs on.", 1000),
    ],
)
def test_speech_start_and_stop_times(vad, make, text, chunk):
    vad.reset()
    speech = make(text)
    lead, tail = 1.0, 1.5
    start, end = voiced_span(speech)
    events = feed(vad, np.concatenate([silence(lead), speech, silence(tail)]), chunk)
    assert [e.kind for e in events] == ["speech_started", "speech_stopped"]
    assert events[0].time == pytest.approx(lead + start - vad.prefix_padding, abs=TOLERANCE)
    assert events[1].time == pytest.approx(lead + end, abs=TOLERANCE)
    assert not vad.speaking


def test_two_utterances_and_int16_input(vad):
    vad.reset()
    a, b = espeak("Tell me more."), espeak("Thank you, goodbye.")
    gap = 1.2
    audio = np.concatenate([silence(0.5), a, silence(gap), b, silence(1.0)])
    pcm = (audio * 32767).astype(np.int16)
    events = feed(vad, pcm, 640)
    assert [e.kind for e in events] == ["speech_started", "speech_stopped"] * 2
    assert events[1].time == pytest.approx(0.5 + voiced_span(a)[1], abs=TOLERANCE)
    second = 0.5 + len(a) / RATE + gap
    assert events[2].time == pytest.approx(second + voiced_span(b)[0] - vad.prefix_padding, abs=TOLERANCE)
    assert events[3].time == pytest.approx(second + voiced_span(b)[1], abs=TOLERANCE)


def test_pause_shorter_than_min_silence_does_not_split(vad):
    vad.reset()
    a, b = espeak("Hello there."), espeak("How are you?")
    # Trim espeak's own trailing silence so that the pause is exactly 250 ms of zeros.
    a = a[: int(voiced_span(a)[1] * RATE)]
    audio = np.concatenate([silence(0.5), a, silence(0.25), b, silence(1.0)])
    events = feed(vad, audio, 512)
    assert [e.kind for e in events] == ["speech_started", "speech_stopped"]


def test_silence_and_noise_make_no_events(vad):
    rng = np.random.default_rng(0)
    white = 0.05 * rng.standard_normal(RATE * 4).astype(np.float32)
    brown = np.cumsum(rng.standard_normal(RATE * 4)).astype(np.float32)
    brown = 0.1 * brown / np.abs(brown).max()
    hum = 0.1 * np.sin(2 * np.pi * 50 * np.arange(RATE * 4) / RATE).astype(np.float32)
    for audio in (silence(4.0), white, brown, hum):
        vad.reset()
        assert feed(vad, audio, 320) == []
        assert vad.probability < vad.threshold


def test_reset_restarts_the_clock(vad):
    vad.reset()
    feed(vad, np.concatenate([silence(2.0), espeak("Hello.")]), 512)
    assert vad.speaking
    vad.reset()
    assert not vad.speaking and vad.time == 0.0
    hello = espeak("Hello.")
    events = feed(vad, np.concatenate([silence(0.6), hello, silence(1.0)]), 512)
    assert [e.kind for e in events] == ["speech_started", "speech_stopped"]
    # Times count from the reset, not from the audio before it.
    assert events[0].time == pytest.approx(0.6 + voiced_span(hello)[0] - vad.prefix_padding, abs=TOLERANCE)


def test_pause_events_mark_a_silence_inside_speech():
    vad = SileroVAD(min_silence_ms=500, pause_ms=150)
    a, b = espeak("Hello there."), espeak("How are you?")
    a = a[: int(voiced_span(a)[1] * RATE)]
    audio = np.concatenate([silence(0.5), a, silence(0.3), b, silence(1.0)])
    events = feed(vad, audio, 320)
    assert [e.kind for e in events] == ["speech_started", "speech_paused", "speech_resumed",
                                        "speech_paused", "speech_stopped"]
    # A pause is placed where its silence began; speech comes back after the gap.
    assert events[1].time == pytest.approx(0.5 + len(a) / RATE, abs=TOLERANCE)
    assert events[2].time == pytest.approx(0.5 + len(a) / RATE + 0.3 + voiced_span(b)[0], abs=TOLERANCE)
    assert events[3].time == events[4].time == pytest.approx(0.5 + len(a) / RATE + 0.3 + voiced_span(b)[1],
                                                             abs=TOLERANCE)


def test_no_pause_events_unless_asked_or_when_the_silence_ends_speech(vad):
    vad.reset()
    a = espeak("Hello there.")
    audio = np.concatenate([silence(0.5), a, silence(1.0)])
    assert [e.kind for e in feed(vad, audio, 320)] == ["speech_started", "speech_stopped"]
    # A pause as long as the end-of-speech silence is just the end.
    same = SileroVAD(min_silence_ms=300, pause_ms=300)
    assert [e.kind for e in feed(same, audio, 320)] == ["speech_started", "speech_stopped"]
    # Noise never pauses or resumes anything.
    noise = 0.05 * np.random.default_rng(1).standard_normal(RATE * 3).astype(np.float32)
    assert feed(SileroVAD(pause_ms=100), noise, 320) == []


@pytest.mark.parametrize("min_silence", [0.3, 0.5])
def test_the_turn_ends_at_the_window_nearest_the_asked_silence(min_silence):
    vad = SileroVAD(min_silence_ms=round(min_silence * 1000))
    window = 512  # the model's 32 ms
    audio = np.concatenate([silence(0.5), espeak("What does it cost?"), silence(1.0)])
    for i in range(0, len(audio), window):
        events = vad.process(audio[i : i + window])
        if any(e.kind == "speech_stopped" for e in events):
            stopped = next(e for e in events if e.kind == "speech_stopped")
            waited = (i + window) / RATE - stopped.time
            break
    else:
        pytest.fail("the speech never stopped")
    assert abs(waited - min_silence) <= window / RATE / 2  # 300 ms: 288, not 320; 500 ms: 512


def _stopped_after(vad: SileroVAD, audio: np.ndarray, length_s: float | None) -> tuple[list[str], float | None]:
    """Feed 32 ms windows (a stop comes within half of one of the asked silence); at the first pause
    ask for a silence of `length_s`. The events' kinds,
    and how much silence had passed when speech stopped."""
    kinds, window = [], 512
    for i in range(0, len(audio), window):
        for e in vad.process(audio[i : i + window]):
            kinds.append(e.kind)
            if e.kind == "speech_paused" and length_s is not None and kinds.count("speech_paused") == 1:
                vad.end_silence_after(e.time, length_s)
            if e.kind == "speech_stopped":
                return kinds, (i + window) / RATE - e.time
    return kinds, None


def test_a_silence_can_be_given_its_own_length_and_speech_resuming_forgets_it():
    a, b = espeak("Hello there."), espeak("How are you?")
    a = a[: int(voiced_span(a)[1] * RATE)]
    # A 1.2 s limit, but this silence ends the speech after 0.4 s.
    audio = np.concatenate([silence(0.5), a, silence(1.0)])
    kinds, waited = _stopped_after(SileroVAD(min_silence_ms=1200, pause_ms=150), audio, 0.4)
    assert kinds == ["speech_started", "speech_paused", "speech_stopped"] and abs(waited - 0.4) <= 0.017
    # Asked for 0.8 s, the speaker goes on after 0.5 s: the next silence waits the whole limit again.
    audio = np.concatenate([silence(0.5), a, silence(0.5), b, silence(1.5)])
    kinds, waited = _stopped_after(SileroVAD(min_silence_ms=1200, pause_ms=150), audio, 0.8)
    assert kinds == ["speech_started", "speech_paused", "speech_resumed", "speech_paused", "speech_stopped"]
    assert abs(waited - 1.2) <= 0.017
    # A silence already over (or never begun) ignores the request.
    vad = SileroVAD(min_silence_ms=1200, pause_ms=150)
    vad.end_silence_after(0.0, 0.2)
    assert _stopped_after(vad, np.concatenate([silence(0.5), a, silence(1.5)]), None)[1] == pytest.approx(1.2, abs=0.017)


def test_listening_does_not_import_torch():
    # silero-vad's package imports torch (~1.2 s and ~230 MB); its ONNX model needs only
    # onnxruntime, so a process that listens (a render from audio, a recognizer) must not pay it.
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from livehuman.speech.vad import SileroVAD\n"
        "SileroVAD().process(np.zeros(16000, np.float32))\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
