"""The voices the lip-sync benchmark speaks with, each with the phone timings it is judged against.

A voice is written as one string, so that a command line can name any of them:
- `espeak:VOICE@WPM/PITCH` — espeak-ng (formant synthesis), e.g. `espeak:en-us@260/90`; its phone
  timings are its own phoneme events (exact);
- `flite:NAME` — one of flite's built-in voices; its timings are flite's own segment times;
- `festival:NAME@STRETCH/PITCH` — festival's diphone voices (ked, kal: a person's recorded
  diphones joined, so natural closures with exact timings), durations times STRETCH (1.0) and the
  mean pitch at PITCH Hz (the voice's own when left out), e.g. `festival:kal@0.8/200`;
- `wav:PATH` — recorded natural speech, no timings known. Its reference is a forced alignment of its
  words (a transcript `PATH` with `.txt` for its suffix, else pocketsphinx's word recognition)
  with reduced vowels told from /ʌ/ (bench/alignment.py). It shares pocketsphinx's acoustic model
  with the path under test (whose recognizer decodes phones with no words), so those cells are
  a check on the path's acoustic side more than on its recognizer.
- `wav:PATH+HOW` — the same recording as a cheap recording chain would give it (HOW one of
  DEGRADATIONS), scored against the clean recording's alignment.
"""

from __future__ import annotations

import math
import pickle
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from livehuman.errors import LivehumanError
from livehuman.speech.audio import Audio, Speech, resample

# argv: voice, words per minute, pitch, text; stdout: the pickled Speech.
_ESPEAK_IN_A_FRESH_PROCESS = """
import pickle, sys
from livehuman.errors import LivehumanError
from livehuman.speech.espeak import EspeakTTS
voice, wpm, pitch, text = sys.argv[1:]
try:
    sys.stdout.buffer.write(pickle.dumps(EspeakTTS(voice, int(wpm), int(pitch)).synthesize(text)))
except LivehumanError as exc:
    sys.exit(str(exc))
"""
SYNTHETIC_VOICE_PREFIXES = ("espeak:", "flite:", "festival:")  # voices that say any text (not wav:)
ESPEAK_DEFAULT_WPM = 175
ESPEAK_DEFAULT_PITCH = 50
_ESPEAK = re.compile(r"^espeak:([A-Za-z0-9+_-]+)(?:@(\d+)(?:/(\d+))?)?$")
_FESTIVAL = re.compile(r"^festival:([a-z]+)(?:@(\d+(?:\.\d+)?)(?:/(\d+))?)?$")
# What a cheap recording chain does to a recording (`wav:PATH+HOW`): a microphone's hiss 20 or 30 dB
# under the voice, white or (pink20) falling 3 dB an octave as a warmer preamplifier's does; mains hum
# at 50 or 60 Hz (a ground loop); a converter's offset of a tenth of full scale; a gain 24 dB too low;
# 20 dB too high, clipped; a telephone's band (8 kHz, 300-3400 Hz).
DEGRADATIONS = ("hiss20", "hiss30", "pink20", "hum50", "hum60", "offset", "quiet", "clipped", "phone")


@dataclass(frozen=True)
class VoiceSpec:
    """One voice of the matrix, parsed from its name."""

    name: str  # as written: espeak:en-us@175/50, flite:slt, festival:kal@0.8/200, wav:/path/clip.wav
    kind: str  # "espeak", "flite", "festival" or "wav"
    voice: str = ""  # espeak-ng, flite or festival voice name
    wpm: int = ESPEAK_DEFAULT_WPM
    pitch: int = ESPEAK_DEFAULT_PITCH  # espeak-ng's 0-99; festival's mean in Hz (0: the voice's own)
    path: str = ""
    stretch: float = 1.0  # festival: durations times this
    degrade: str = ""  # a recording: one of DEGRADATIONS, or "" as recorded

    @property
    def label(self) -> str:
        """A short name for tables: `en-us 260/90`, `flite slt`, `RD_Radio31_000`."""
        if self.kind == "espeak":
            return f"{self.voice} {self.wpm}/{self.pitch}"
        if self.kind == "flite":
            return f"flite {self.voice}"
        if self.kind == "festival":
            return f"festival {self.voice}" + (f" {self.stretch:g}/{self.pitch}" if self.pitch else "")
        return Path(self.path).stem + (f" +{self.degrade}" if self.degrade else "")

    @property
    def natural(self) -> bool:
        return self.kind == "wav"


def parse_voice(name: str) -> VoiceSpec:
    """A voice from its written name; one clear line for a name that is not one."""
    text = name.strip()
    if text.startswith("flite:"):
        from livehuman.speech.flite import FLITE_VOICES

        voice = text.split(":", 1)[1]
        if voice not in FLITE_VOICES:
            raise LivehumanError(f"unknown flite voice {voice!r} in {name!r}: choose one of {', '.join(FLITE_VOICES)}")
        return VoiceSpec(text, "flite", voice)
    if text.startswith("festival:"):
        from livehuman.speech.festival import FESTIVAL_VOICES, check_settings

        m = _FESTIVAL.match(text)
        if not m or m.group(1) not in FESTIVAL_VOICES:
            raise LivehumanError(f"not a festival voice: {name!r}; write festival:NAME@STRETCH/PITCH with NAME one of "
                                 f"{', '.join(FESTIVAL_VOICES)} (festival:ked, festival:kal@0.8/200)")
        stretch, pitch = float(m.group(2) or 1.0), int(m.group(3) or 0)
        check_settings(stretch, pitch or None)
        written = f"festival:{m.group(1)}" + (f"@{stretch:g}/{pitch}" if m.group(2) else "")
        return VoiceSpec(written, "festival", m.group(1), pitch=pitch, stretch=stretch)
    if text.startswith("wav:"):
        path, _, how = text.split(":", 1)[1].rpartition("+")
        if how not in DEGRADATIONS:  # (a "+" of the file's own name)
            path, how = text.split(":", 1)[1], ""
        if not Path(path).is_file():
            raise LivehumanError(f"no such recording: {path!r} (voice {name!r})")
        return VoiceSpec(text, "wav", path=path, degrade=how)
    m = _ESPEAK.match(text)
    if m:
        wpm = int(m.group(2) or ESPEAK_DEFAULT_WPM)
        pitch = int(m.group(3) or ESPEAK_DEFAULT_PITCH)
        from livehuman.speech.espeak import EspeakTTS

        EspeakTTS(m.group(1), wpm, pitch)  # an unknown voice or a rate out of range fails now, not mid-run
        return VoiceSpec(f"espeak:{m.group(1)}@{wpm}/{pitch}", "espeak", m.group(1), wpm, pitch)
    raise LivehumanError(
        f"not a voice: {name!r}; write espeak:VOICE@WPM/PITCH (espeak:en-us@175/50), flite:NAME (flite:slt), "
        "festival:NAME@STRETCH/PITCH (festival:kal@0.8/200) or wav:PATH"
    )


def synthesize(spec: VoiceSpec, text: str) -> Speech:
    """`text` spoken by a synthetic voice, with the phone timings the voice itself reports."""
    if spec.kind == "flite":
        from livehuman.speech.flite import flite_speech

        return flite_speech(text, voice=spec.voice)
    if spec.kind == "festival":
        from livehuman.speech.festival import festival_speech

        return festival_speech(text, spec.voice, spec.stretch, spec.pitch or None)
    if spec.kind == "espeak":
        # In a fresh process: espeak-ng keeps state between calls (the same sentence came out 2 %
        # longer after another one), and a benchmark must give the same sound whatever ran before.
        args = [spec.voice, str(spec.wpm), str(spec.pitch), text]
        done = subprocess.run([sys.executable, "-c", _ESPEAK_IN_A_FRESH_PROCESS, *args], capture_output=True)
        if done.returncode != 0:
            raise LivehumanError(done.stderr.decode("utf-8", "replace").strip().splitlines()[-1])
        return pickle.loads(done.stdout)
    raise LivehumanError(f"{spec.name} is a recording: it speaks its own words, not {text[:30]!r}")


def recording(spec: VoiceSpec) -> Speech:
    """A natural recording and its reference phones (its words aligned: see the module's notes)."""
    from livehuman.bench.alignment import aligned_phones, transcript_beside
    from livehuman.speech.audio import load_audio

    audio = load_audio(spec.path)
    phones, words = aligned_phones(audio, transcript_beside(spec.path))
    return Speech(audio=degraded(audio, spec.degrade) if spec.degrade else audio, phones=phones, text=words)


def degraded(audio: Audio, how: str) -> Audio:
    """`audio` as a cheap recording chain would give it (one of DEGRADATIONS). The hum is a ground
    loop's: the mains frequency 0.1 % off, 10 dB under the voice, its third harmonic 14 dB under,
    swelling and fading by half every three seconds."""
    if how in ("hiss20", "hiss30"):
        return with_hiss(audio, np.random.default_rng(0), float(how[4:]))
    if how == "pink20":
        return with_hiss(audio, np.random.default_rng(0), 20.0, pink=True)
    x = audio.samples.astype(np.float64)
    if how == "offset":
        return Audio(np.clip(x + 0.1, -1.0, 1.0), audio.rate)
    if how == "quiet":
        return Audio(x * 10 ** (-24 / 20), audio.rate)
    if how == "clipped":
        return Audio(np.clip(x * 10, -1.0, 1.0), audio.rate)
    if how == "phone":
        narrow = resample(Audio(x, audio.rate), 8000).samples.astype(np.float64)
        spectrum = np.fft.rfft(narrow)
        hz = np.fft.rfftfreq(len(narrow), 1 / 8000)
        spectrum[(hz < 300) | (hz > 3400)] = 0
        return resample(Audio(np.fft.irfft(spectrum, len(narrow)), 8000), audio.rate)
    if how not in ("hum50", "hum60"):
        raise LivehumanError(f"not a degradation: {how!r}; choose one of {', '.join(DEGRADATIONS)}")
    t = np.arange(len(x)) / audio.rate
    hz = float(how[3:]) * 1.001
    swell = 1.0 + 0.5 * np.sin(2 * math.pi * t / 3.0)
    tone = 10 ** (-10 / 20) * np.sin(2 * math.pi * hz * t) + 10 ** (-14 / 20) * np.sin(2 * math.pi * 3 * hz * t + 1.0)
    return Audio(np.clip(x + voice_level(x) * math.sqrt(2) * swell * tone, -1.0, 1.0), audio.rate)


def voice_level(x: np.ndarray) -> float:
    """The RMS of a recording's samples within 20 dB of its loudest: its voice's level."""
    return float(np.sqrt(np.mean(x[np.abs(x) > np.abs(x).max() / 10] ** 2)))


def with_hiss(audio: Audio, rng: np.random.Generator, db: float | None = None, pink: bool = False) -> Audio:
    """`audio` with a cheap microphone's hiss: white noise `db` under its voice's level (None: 15-35
    dB, drawn after the noise); pink (3 dB less an octave up, from 20 Hz) if `pink`."""
    x = audio.samples.astype(np.float64)
    hiss = rng.normal(size=len(x))
    if pink:
        hz = np.fft.rfftfreq(len(x), 1.0 / audio.rate)
        hiss = np.fft.irfft(np.fft.rfft(hiss) / np.sqrt(np.maximum(hz, 20.0)), len(x))
        hiss /= np.std(hiss)
    db = rng.uniform(15.0, 35.0) if db is None else db
    noisy = x + hiss * voice_level(x) * 10 ** (-db / 20)
    return Audio(np.clip(noisy, -1.0, 1.0).astype(np.float32), audio.rate)
