"""Barge-in over a set of sounds: which ones would stop (or hold) the avatar, and how soon after the voice begins.

`python -m livehuman.bench.barge_in [--confirm-ms 240,500 ...]`. Each sound is heard as the
offline brain hears it while a reply plays: silero's VAD and the knowledge-biased pocketsphinx
(brain/listener.py), and the barge-in rule (brain/barge_in.py) from the VAD's start of speech on.
The set: noises (coughs, knocks, claps, throat clearing, laughs: shaped noise made here), short
backchannels ("mm-hm" hummed, "yeah", "okay"…) and real interruptions ("wait, stop", "actually I meant
the price"…), spoken by espeak-ng and flite in several voices. A noise or backchannel that the
rule lets through is a false barge-in; for an interruption, the time from its first loud sample
to the rule's verdict (audio time, not this machine's speed). The live stop at the client adds
the pipeline after the verdict: `livehuman bench live`'s barge-in figures. The last row is the live
session's way (a player that holds the reply): sounds that hold it, those that then stop it, and
for an interruption the time from its first loud sample to the hold.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field

import numpy as np

RATE = 16000
BACKCHANNELS = ["mm-hm", "uh-huh", "yeah", "okay", "right", "yes", "hmm", "I see", "sure", "mhm"]
# Written in letters, a hum is spelled out by the synthesizers ("mm-hm" comes out "em em aitch
# em", a word-like string the recognizer hears as "them image him"), which no listener says. Each
# engine is given the hum as it can say it: espeak-ng as phonemes, flite (no phoneme input) with
# the short vowel some people put in it ("um-hum"). espeak-ng says "hmm" as a hum already.
HUMS = {"mm-hm": {"espeak": "[[m'm: h'm:]]", "flite": "um hum"},
        "mhm": {"espeak": "[[m'hm:]]", "flite": "uh hum"},
        "hmm": {"flite": "hum"}}
INTERRUPTIONS = ["wait, stop", "actually I meant the price", "wait, tell me about the price", "hold on a second",
                 "no, I asked about the price", "sorry, what was that", "stop please", "excuse me, can you repeat that"]
VOICES = ["espeak:en-us@160", "espeak:en-us+f3@170", "espeak:en-gb@150", "espeak:en-us+m3@180",
          "flite:slt", "flite:kal", "flite:awb", "flite:rms"]
LOUD = 0.03  # the voice begins at the first sample this loud


def said(text: str, engine: str) -> str:
    """What `engine` ("espeak" or "flite") is given to say `text`: a hum as it can hum it (HUMS)."""
    return HUMS.get(text, {}).get(engine, text)


def spoken(text: str, voice: str) -> np.ndarray:
    """`text` said by `voice` ("espeak:VOICE@WPM" or "flite:NAME"), 16 kHz, trimmed, peak 0.5."""
    from livehuman.speech.audio import load_audio

    engine, name = voice.split(":", 1)
    text = said(text, engine)
    with tempfile.TemporaryDirectory() as tmp:
        wav = f"{tmp}/said.wav"
        if engine == "espeak":
            name, _, wpm = name.partition("@")
            command = ["espeak-ng", "-v", name, "-s", wpm or "160", "-w", wav, text]
        else:
            command = ["flite", "-voice", name, "-t", text, "-o", wav]
        subprocess.run(command, capture_output=True, check=True)
        x = load_audio(wav, rate=RATE).samples
    loud = np.flatnonzero(np.abs(x) > 0.02)
    x = x[max(0, loud[0] - 160) : loud[-1] + 160] if len(loud) else x
    return (x / (np.abs(x).max() + 1e-9) * 0.5).astype(np.float32)


def noises(seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """Coughs (band-passed noise bursts, some over a glottal buzz), knocks (damped wood resonances
    and a click), claps, throat clearing (a rough low buzz) and laughs (breathy voiced bursts)."""
    rng = np.random.default_rng(seed)
    out: list[tuple[str, np.ndarray]] = []

    def bandpass(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
        f = np.fft.rfftfreq(len(x), 1 / RATE)
        return np.fft.irfft(np.fft.rfft(x) * ((f >= lo) & (f <= hi)), n=len(x))

    for i in range(10):
        n = int(RATE * rng.uniform(0.15, 0.35))
        t = np.arange(n) / RATE
        env = np.exp(-t / rng.uniform(0.05, 0.12)) * (1 - np.exp(-t / 0.005))
        buzz = np.sign(np.sin(2 * np.pi * rng.uniform(90, 220) * t)) * np.exp(-t / 0.06) * (i % 2) * 0.6
        x = bandpass(rng.standard_normal(n) + buzz, rng.uniform(300, 600), rng.uniform(2500, 4500)) * env
        if i % 3 == 2:  # a double cough
            x = np.concatenate([x, np.zeros(int(RATE * 0.1)), 0.7 * x])
        out.append(("cough", x))
    for i in range(6):
        x = np.zeros(int(RATE * 0.6))
        for k in range(2 + i % 2):
            t = np.arange(int(RATE * 0.12)) / RATE
            hit = (np.sin(2 * np.pi * rng.uniform(150, 600) * t) * np.exp(-t * rng.uniform(30, 60))
                   + 0.5 * rng.standard_normal(len(t)) * np.exp(-t * 400))
            x[int(k * RATE * 0.15) : int(k * RATE * 0.15) + len(t)] += hit
        out.append(("knock", x))
    for _ in range(4):
        n = int(RATE * 0.05)
        out.append(("clap", np.concatenate([rng.standard_normal(n) * np.exp(-np.arange(n) / (RATE * 0.008)), np.zeros(RATE // 4)])))
    for _ in range(4):
        n = int(RATE * 0.4)
        t = np.arange(n) / RATE
        x = (np.sin(2 * np.pi * rng.uniform(70, 110) * t) + 0.8 * rng.standard_normal(n)) * np.hanning(n)
        out.append(("throat clearing", bandpass(x, 100, 1500)))
    for i in range(4):
        parts = []
        for _ in range(3 + i % 2):
            n = int(RATE * 0.12)
            t = np.arange(n) / RATE
            f0 = rng.uniform(180, 300)
            v = np.sin(2 * np.pi * f0 * t) + 0.5 * np.sin(4 * np.pi * f0 * t) + 0.6 * rng.standard_normal(n)
            parts += [v * np.hanning(n), np.zeros(int(RATE * 0.08))]
        out.append(("laugh", bandpass(np.concatenate(parts), 150, 3500)))
    return [(name, (x / np.abs(x).max() * 0.6).astype(np.float32)) for name, x in out]


@dataclass
class Heard:
    """One sound as the brain heard it: the VAD's start (None: it never took it for speech), then
    each 20 ms chunk with the recognizer's words after it, until the VAD's end of speech."""

    kind: str  # noise, backchannel, interruption
    name: str
    voice_s: float  # where its voice begins, in the audio fed
    start_s: float | None = None
    first: np.ndarray | None = None  # the audio from the VAD's start to the end of that chunk
    chunks: list[tuple[float, np.ndarray, str]] = field(default_factory=list)
    transcript: str = ""  # the recognizer's final words at the VAD's end of speech


def hear(kind: str, name: str, sound: np.ndarray, asr) -> Heard:
    """Feed `sound` after 0.5 s of silence (and 1 s after it) to a Listener as the brain does."""
    from livehuman.brain.base import TurnDetection
    from livehuman.brain.listener import Listener, SpeechBegan, SpeechEnded

    lead = 0.5
    turn = TurnDetection()
    listener = Listener(lambda: asr, turn=turn)
    audio = np.concatenate([np.zeros(int(RATE * lead), np.float32), sound, np.zeros(RATE, np.float32)])
    loud = np.flatnonzero(np.abs(sound) > LOUD)
    heard = Heard(kind, name, lead + (loud[0] if len(loud) else 0) / RATE)
    step = RATE // 50
    prefix = turn.prefix_padding_ms * RATE // 1000
    for i in range(0, len(audio), step):
        chunk = audio[i : i + step]
        events = listener.hear(chunk)
        if heard.start_s is not None:
            if any(isinstance(e, SpeechEnded) for e in events):
                heard.transcript = listener.finish()
                break
            heard.chunks.append(((i + step) / RATE, chunk, listener.hypothesis() or ""))
        for e in events:
            if isinstance(e, SpeechBegan) and heard.start_s is None:
                heard.start_s = (i + step) / RATE
                heard.first = e.audio[prefix:] if len(e.audio) > prefix else e.audio
                listener.begin(e.audio)
    asr.reset()
    return heard


def judge(heard: Heard, rule) -> float | None:
    """When (s, in the audio fed) the rule calls it an interruption; None: never, or no speech."""
    from livehuman.brain.barge_in import BargeIn

    if heard.start_s is None:
        return None
    b = BargeIn(rule, heard.first)
    if b.verdict("") == "interrupt":
        return heard.start_s
    for t, chunk, words in heard.chunks:
        b.hear(chunk)
        if b.verdict(words) == "interrupt":
            return t
    return None


def judge_held(heard: Heard, rule) -> tuple[float | None, bool]:
    """With a player that holds the reply: when (s, in the audio fed) the reply is held (None: never),
    and whether the sound then stops it (its voice grows long, or its whole words bid for the turn)."""
    from livehuman.brain.barge_in import BargeIn

    if heard.start_s is None:
        return None, False
    b = BargeIn(rule, heard.first)
    held = heard.start_s if b.held_verdict() != "wait" else None
    for t, chunk, _ in heard.chunks:
        b.hear(chunk)
        verdict = b.held_verdict()
        if held is None and verdict != "wait":
            held = t
        if verdict == "interrupt":
            return held, True
    return held, held is not None and b.interrupts(heard.transcript or (heard.chunks[-1][2] if heard.chunks else ""))


def held_figures(heard: list[Heard], rule) -> dict:
    """The same set with a player that holds: sounds that hold the reply, those that stop it, and
    for interruptions the time from the voice's start to the hold (when the avatar falls silent)."""
    held = {"noise": 0, "backchannel": 0, "interruption": 0}
    stopped = dict(held)
    total = dict(held)
    times = []
    for h in heard:
        at, stops = judge_held(h, rule)
        total[h.kind] += 1
        held[h.kind] += at is not None
        stopped[h.kind] += stops
        if h.kind == "interruption" and at is not None:
            times.append((at - h.voice_s) * 1000)
    times_a = np.array(times) if times else np.zeros(1)
    false = stopped["noise"] + stopped["backchannel"]
    return {
        "mode": "hold",
        "held_noise": f"{held['noise']}/{total['noise']}",
        "held_backchannel": f"{held['backchannel']}/{total['backchannel']}",
        "false_noise": f"{stopped['noise']}/{total['noise']}",
        "false_backchannel": f"{stopped['backchannel']}/{total['backchannel']}",
        "false_rate": round(false / max(1, total["noise"] + total["backchannel"]), 3),
        "interruptions_missed": total["interruption"] - stopped["interruption"],
        "hold_p50_ms": round(float(np.median(times_a))),
        "hold_p90_ms": round(float(np.percentile(times_a, 90))),
        "hold_max_ms": round(float(times_a.max())),
    }


def sounds(voices: list[str] = VOICES) -> list[tuple[str, str, np.ndarray]]:
    """The whole set: (kind, name, 16 kHz audio)."""
    out = [("noise", name, x) for name, x in noises()]
    out += [("backchannel", f"{text} ({v})", spoken(text, v)) for text in BACKCHANNELS for v in voices]
    out += [("interruption", f"{text} ({v})", spoken(text, v)) for text in INTERRUPTIONS for v in voices]
    return out


def figures(heard: list[Heard], rule) -> dict:
    """False barge-ins (noises and backchannels let through) and the interruptions' verdict times."""
    false = {"noise": 0, "backchannel": 0}
    total = {"noise": 0, "backchannel": 0}
    vad = {"noise": 0, "backchannel": 0}
    times, missed = [], 0
    for h in heard:
        t = judge(h, rule)
        if h.kind == "interruption":
            if t is None:
                missed += 1
            else:
                times.append((t - h.voice_s) * 1000)
            continue
        total[h.kind] += 1
        vad[h.kind] += h.start_s is not None
        false[h.kind] += t is not None
    times_a = np.array(times) if times else np.zeros(1)
    return {
        "confirm_ms": rule.confirm_ms,
        "false_noise": f"{false['noise']}/{total['noise']} (VAD fired on {vad['noise']})",
        "false_backchannel": f"{false['backchannel']}/{total['backchannel']}",
        "false_rate": round((false["noise"] + false["backchannel"]) / max(1, sum(total.values())), 3),
        "interruptions_missed": missed,
        "verdict_p50_ms": round(float(np.median(times_a))),
        "verdict_p90_ms": round(float(np.percentile(times_a, 90))),
        "verdict_max_ms": round(float(times_a.max())),
    }


def bench_barge_in(confirm_ms: list[int] | None = None, voices: list[str] = VOICES, keep: str | None = None) -> list[dict]:
    """Hear the set once, then judge it with each confirm time (0: any speech interrupts, as before).

    `keep`: a file where what was heard is kept (pickle), and taken from on the next run: the
    recognizer's minutes are spent once while the rule is tuned.
    """
    import pickle
    from pathlib import Path

    from livehuman.brain.barge_in import BargeInRule

    if keep and Path(keep).is_file():
        heard = pickle.loads(Path(keep).read_bytes())
    else:
        from livehuman.brain.knowledge import load_knowledge
        from livehuman.brain.recognizer import knowledge_asr

        asr = knowledge_asr(load_knowledge(None), None, second_pass=False)
        heard = [hear(kind, name, x, asr) for kind, name, x in sounds(voices)]
        if keep:
            Path(keep).write_bytes(pickle.dumps(heard))
    rows = [figures(heard, BargeInRule(confirm_ms=c)) for c in (confirm_ms or [0, 240, 400, 600, 800])]
    return rows + [held_figures(heard, BargeInRule())]


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--confirm-ms", default="0,240,400,600,800", help="comma-separated confirm times to compare")
    parser.add_argument("--voices", default=",".join(VOICES))
    parser.add_argument("--keep", help="keep what was heard in this file, and reuse it when it exists")
    args = parser.parse_args()
    rows = bench_barge_in([int(c) for c in args.confirm_ms.split(",")], args.voices.split(","), args.keep)
    json.dump(rows, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
