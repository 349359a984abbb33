"""festival's diphone voices, for benchmarks: a person's recorded diphones joined, with exact segment times.

espeak-ng and flite's other voices synthesize their sounds; a diphone voice plays back pieces of a
speaker's own recordings (each from the middle of one phone to the middle of the next), so its
closures and the transitions into and out of them are natural speech, while its timings are as
exact as a synthesizer's. Debian packages: festival, festvox-kdlpc16k (ked), festvox-kallpc16k (kal).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from livehuman.errors import LivehumanError
from livehuman.speech.arpabet import phones_from_ends
from livehuman.speech.audio import Speech, load_audio
from livehuman.speech.phones import Phone

FESTIVAL_VOICES = ("ked", "kal")  # American English male diphone voices, 16 kHz
_TIMEOUT_S = 120
RISE_S = 0.4  # a rise (`rise_st`) spans the intonation's last this many seconds: the final syllable or two
# festival's utt.synth for text (its synthesis.scm), in two halves so that the pitch targets can be
# changed before the wave is made (synthesizing an utterance's wave twice crashes festival).
_UP_TO_TARGETS = ("(set! utt (apply_hooks before_synth_hooks utt))\n"
                  "(Initialize utt) (Text utt) (Token_POS utt) (Token utt) (POS utt) (Phrasify utt) (Word utt) "
                  "(Pauses utt) (Intonation utt) (PostLex utt) (Duration utt) (Int_Targets utt)")
_WAVE = "(Wave_Synth utt)\n(set! utt (apply_hooks after_synth_hooks utt))"  # (the voice's gain)


def festival_speech(text: str, voice: str = "ked", stretch: float = 1.0, pitch_hz: float | None = None,
                    rise_st: float = 0.0) -> Speech:
    """Speak `text` with festival's diphone `voice`, its durations times `stretch` and its mean pitch
    moved to `pitch_hz` (None: the voice's own); phones (IPA) from festival's own segment ends.

    `rise_st` raises the pitch over the last RISE_S by that many semitones (a question's rise, which
    festival's intonation model does not make: its yes/no questions end level)."""
    if not text or not text.strip():
        raise LivehumanError("nothing to say: the text is empty")
    if voice not in FESTIVAL_VOICES:
        raise LivehumanError(f"unknown festival voice {voice!r}: choose one of {', '.join(FESTIVAL_VOICES)}")
    check_settings(stretch, pitch_hz, rise_st)
    exe = shutil.which("festival")
    if exe is None:
        raise LivehumanError("festival is not installed: apt install festival festvox-kdlpc16k festvox-kallpc16k")
    words = " ".join(text.replace("\\", " ").replace('"', " ").split())
    with tempfile.TemporaryDirectory(prefix="livehuman-festival-") as tmp:
        wav, segments = Path(tmp) / "speech.wav", Path(tmp) / "speech.segs"
        pitch = ""
        if pitch_hz is not None:  # the diphone voices' intonation model, aimed at another mean and spread
            pitch = (f"(set! int_lr_params '((target_f0_mean {pitch_hz:.0f}) (target_f0_std {pitch_hz * 0.2:.0f}) "
                     "(model_f0_mean 170) (model_f0_std 34)))\n")
        script = (f"(voice_{voice}_diphone)\n{pitch}(Parameter.set 'Duration_Stretch {stretch})\n"
                  f'(set! utt (Utterance Text "{words}"))\n{_UP_TO_TARGETS}\n{_rise(rise_st)}{_WAVE}\n'
                  f"(utt.save.wave utt \"{wav}\" 'riff)\n(utt.save.segs utt \"{segments}\")\n")
        proc = subprocess.run([exe, "--pipe"], input=script, capture_output=True, text=True, timeout=_TIMEOUT_S)
        if proc.returncode != 0 or not wav.exists() or not segments.exists():
            said = (proc.stderr or proc.stdout).strip().splitlines()
            raise LivehumanError(f"festival could not speak with {voice}: {said[-1] if said else 'no output'} "
                                 f"(is festvox-{'kdlpc16k' if voice == 'ked' else 'kallpc16k'} installed?)")
        audio = load_audio(wav)
        phones = parse_segments(segments.read_text(), audio.duration)
    return Speech(audio=audio, phones=phones, text=text)


def _rise(semitones: float) -> str:
    """Scheme that raises the utterance's pitch targets in its last RISE_S, linearly in semitones from
    0 to `semitones` at the last target."""
    if not semitones:
        return ""
    return (
        "(set! tend 0)\n"
        "(mapcar (lambda (tg) (if (> (item.feat tg 'pos) tend) (set! tend (item.feat tg 'pos)))) (utt.relation.items utt 'Target))\n"
        "(mapcar (lambda (tg) (let ((pos (item.feat tg 'pos)))\n"
        f"  (if (and (> (item.feat tg 'f0) 0) (> pos (- tend {RISE_S})))\n"
        f"      (item.set_feat tg 'f0 (* (item.feat tg 'f0) (pow 2.0 (/ (* {semitones:g} (- pos (- tend {RISE_S}))) {RISE_S * 12:g})))))))\n"
        "  (utt.relation.items utt 'Target))\n"
    )


def check_settings(stretch: float, pitch_hz: float | None, rise_st: float = 0.0) -> None:
    """One clear line for a stretch, a pitch or a rise festival would make nonsense of."""
    if not 0.25 <= stretch <= 4.0 or (pitch_hz is not None and not 40 <= pitch_hz <= 500):
        raise LivehumanError(f"festival's stretch must lie in 0.25-4 and its pitch in 40-500 Hz, not {stretch:g} and {pitch_hz}")
    if not -12 <= rise_st <= 12:
        raise LivehumanError(f"festival's rise must lie in -12 to 12 semitones, not {rise_st:g}")


def parse_segments(saved: str, duration: float | None = None) -> list[Phone]:
    """Phones from festival's `utt.save.segs` ("END 100 NAME" per line after a "#"): each line is a
    segment's end; pauses are not phones. Ends are clipped to the audio's `duration`."""
    rows = (line.split() for line in saved.splitlines())
    return phones_from_ends(((row[2], row[0]) for row in rows if len(row) == 3), duration)
