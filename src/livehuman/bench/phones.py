"""`livehuman bench phones`: how well pocketsphinx's phones time the mouth, frame-level viseme
agreement with flite's truth.

Run: livehuman bench phones [--sweep] [--json]
Speech comes from flite voices (and espeak-ng) whose own segment times are the ground truth; the
recognizer never sees those times. Reports, per voice, the share of 10 ms frames whose viseme class
(open vowel / closed P,B,M / other, silence included) agrees, and recall of the closed and open
classes.
"""

from __future__ import annotations

import itertools
import time

import numpy as np

from livehuman.bench.options import PhonesOptions, from_args
from livehuman.motion.recognize import DECODER_SETTINGS, PhoneRecognizer
from livehuman.speech.espeak import EspeakTTS
from livehuman.speech.flite import flite_speech

SENTENCES = [
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.",
    "Bob bought a big map, maybe more maps.",
    "Papa bakes apple pies for my mom.",
]
TUNE = SENTENCES[:6]
TEST = SENTENCES[6:]
OPEN = {"a", "ɑ", "æ", "ɒ", "ɔ", "ʌ", "ɐ", "aɪ", "aʊ", "ɔɪ", "ɑɪ", "ɑʊ"}
CLOSED = {"p", "b", "m"}
STEP = 0.01


def base(symbol: str) -> str:
    return "".join(c for c in symbol if c not in "ˈˌːˑ̩̯̃ʰʲʷ̪̥̬-_'")


def classes(phones, duration: float) -> np.ndarray:
    """0 other/silence, 1 open vowel, 2 closed lips, per 10 ms frame (centres)."""
    n = int(duration / STEP)
    out = np.zeros(n, np.int8)
    t = (np.arange(n) + 0.5) * STEP
    for p in phones:
        s = base(p.symbol)
        c = 1 if s in OPEN else 2 if s in CLOSED else 0
        out[(t >= p.start) & (t < p.end)] = c
    return out


def score(truth: np.ndarray, guess: np.ndarray) -> dict[str, float]:
    agree = float(np.mean(truth == guess))
    closed = float(np.mean(guess[truth == 2] == 2)) if np.any(truth == 2) else float("nan")
    opened = float(np.mean(guess[truth == 1] == 1)) if np.any(truth == 1) else float("nan")
    false_closed = float(np.mean(guess[truth == 1] == 2)) if np.any(truth == 1) else float("nan")
    return {"agree": agree, "closed_recall": closed, "open_recall": opened, "open_as_closed": false_closed}


def corpus(sentences, voices):
    out = []
    for voice in voices:
        for text in sentences:
            if voice.startswith("espeak:"):
                speech = EspeakTTS(voice.split(":", 1)[1]).synthesize(text)
            else:
                speech = flite_speech(text, voice)
            out.append((voice, speech))
    return out


def evaluate(items, **settings) -> dict[str, dict[str, float]]:
    recognizer = PhoneRecognizer(**settings)
    per_voice: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for voice, speech in items:
        phones = recognizer.recognize(speech.audio)
        truth = classes(speech.phones, speech.audio.duration)
        guess = classes(phones, speech.audio.duration)
        per_voice.setdefault(voice, []).append((truth, guess))
    result = {}
    for voice, pairs in per_voice.items():
        result[voice] = score(np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs]))
    result["all"] = score(
        np.concatenate([p[0] for pairs in per_voice.values() for p in pairs]),
        np.concatenate([p[1] for pairs in per_voice.values() for p in pairs]),
    )
    return result


def shown(result) -> dict[str, str]:
    """One line of figures per voice."""
    return {voice: f"agree {s['agree']:.3f}  closed recall {s['closed_recall']:.3f}  open recall {s['open_recall']:.3f}  "
                   f"open heard as closed {s['open_as_closed']:.3f}" for voice, s in result.items()}


def bench_phones(options: PhonesOptions | None = None) -> dict:
    """Held-out sentences per voice: what calling every frame 'other' would score, pocketsphinx's
    defaults, the tuned settings, and the recognition speed; with `sweep`, the best settings first."""
    o = options or PhonesOptions()
    voices = ["slt", "kal", "rms", "awb", "espeak:en-us"]
    results: dict = {}
    if o.sweep:
        tune = corpus(TUNE, ["slt", "kal"])
        grid = {"lw": [1.0, 2.0, 4.0, 6.5, 10.0], "pip": [0.5, 1.0, 2.0], "beam": [1e-48, 1e-20, 1e-10]}
        rows = []
        for values in itertools.product(*grid.values()):
            settings = dict(zip(grid, values))
            settings["pbeam"] = settings["beam"]
            rows.append((evaluate(tune, **settings)["all"]["agree"], settings))
        for rank, (agree, settings) in enumerate(sorted(rows, key=lambda r: -r[0])[:10], 1):
            results[f"sweep #{rank}"] = f"agree {agree:.3f} {settings}"
    items = corpus(TEST, voices)
    results["held-out sentences per voice"] = len(TEST)
    for voice in voices:
        truth = np.concatenate([classes(s.phones, s.audio.duration) for v, s in items if v == voice])
        results[f"all 'other': {voice} agree"] = float(np.mean(truth == 0))
    defaults = evaluate(items, lw=6.5, beam=1e-48, pbeam=1e-48)
    results.update({f"defaults (lw 6.5, beam 1e-48): {v}": line for v, line in shown(defaults).items()})
    results["tuned settings"] = str(DECODER_SETTINGS)
    start = time.perf_counter()
    tuned = evaluate(items)
    seconds = time.perf_counter() - start
    results.update({f"tuned: {v}": line for v, line in shown(tuned).items()})
    audio = sum(s.audio.duration for _, s in items)
    results["recognition speed (x realtime)"] = audio / seconds
    return results


def bench_phones_from_args(args) -> dict:
    """`livehuman bench phones [--sweep]`."""
    return bench_phones(from_args(PhonesOptions, args))


if __name__ == "__main__":
    from livehuman.bench import run_as_script

    run_as_script("phones")
