"""flite as a second, independent voice family, with its segment times (`flite -psdur`)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from livehuman.errors import LivehumanError
from livehuman.speech.arpabet import phones_from_ends
from livehuman.speech.audio import Speech, load_audio
from livehuman.speech.phones import Phone

# Built-in voices that render their segments at the times -psdur prints (awb_time does not).
FLITE_VOICES = ("kal", "kal16", "slt", "rms", "awb")
_TIMEOUT_S = 120


def flite_speech(text: str, voice: str = "slt") -> Speech:
    """Speak `text` with flite's `voice`; phones (IPA) from flite's own segment end times."""
    if not text or not text.strip():
        raise LivehumanError("nothing to say: the text is empty")
    if voice not in FLITE_VOICES:
        raise LivehumanError(f"unknown flite voice {voice!r}: choose one of {', '.join(FLITE_VOICES)}")
    exe = shutil.which("flite")
    if exe is None:
        raise LivehumanError("flite is not installed: apt install flite")
    with tempfile.TemporaryDirectory(prefix="livehuman-flite-") as tmp:
        wav = Path(tmp) / "speech.wav"
        # -t: the text is always text, even when it names a file or starts with "-".
        proc = subprocess.run(
            [exe, "-voice", voice, "-psdur", "-t", _unicode(text), "-o", str(wav)],
            capture_output=True, text=True, timeout=_TIMEOUT_S,
        )  # fmt: skip
        if proc.returncode != 0 or not wav.exists():
            raise LivehumanError(f"flite failed: {(proc.stderr or proc.stdout).strip()[:200]}")
        audio = load_audio(wav)
    return Speech(audio=audio, phones=parse_psdur(proc.stdout, audio.duration), text=text)


def parse_psdur(output: str, duration: float | None = None) -> list[Phone]:
    """Phones from `flite -psdur` output ("pau:0.193 b:0.224 ..."): each token is a segment's end.

    Diphone voices (kal) cut the final pause short, so ends are clipped to the audio's `duration`.
    """
    tokens = (token.rpartition(":") for token in output.split())
    return phones_from_ends(((name, end) for name, sep, end in tokens if sep), duration)


def _unicode(text: str) -> str:
    """`text` with any lone surrogate (a JSON "\\ud800" is half a character) replaced: an argument
    must encode."""
    return text.encode("utf-8", "replace").decode("utf-8")
