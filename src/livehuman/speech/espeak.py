"""Built-in text to speech: espeak-ng through its C API, with every phone's exact time."""

from __future__ import annotations

import ctypes
import ctypes.util
import re
import threading
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from livehuman.errors import LivehumanError
from livehuman.speech.audio import Audio, Speech
from livehuman.speech.kana import speakable
from livehuman.speech.phones import Phone

ESPEAK_RATE = 22050  # espeak-ng's native output rate
_LIBRARY_NAMES = ("libespeak-ng.so.1", "libespeak-ng.so")

# From speak_lib.h (API revision 12).
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_INITIALIZE_PHONEME_IPA = 0x0002
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_ENDPAUSE = 0x1000
_EVENT_LIST_TERMINATED = 0
_EVENT_PHONEME = 7
_PARAM_RATE = 1
_PARAM_PITCH = 3
_EE_OK = 0

# Sentence ends: Western punctuation followed by a space (or the end), or CJK full stops anywhere.
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|(?<=[。！？])\s*|\n\s*\n")
_ASCII_TO_IPA = (("ts.", "ʈʂ"), ("s.", "ʂ"), ("z.", "ʐ"), ("i.", "ɨ"))
_ASPIRABLE = {"p", "t", "k", "c", "ts", "tɕ", "ʈʂ", "tʃ", "q"}
# Waveform alignment of espeak-ng's phone events (see align_to_waveform).
_STOP_LETTERS = set("pbtdkɡgcɟqʈɖ")
_NASALS = {"m", "n", "ŋ", "ɲ", "ɴ", "ɱ"}
_VOWEL_LETTERS = set("aeiouyæɑɐɒɔəɘɚɛɜɝɞɤɪʊʌʏøœɯɨʉä")
_CLOSURE_SILENCE_DB = -40.0  # below the loudest 20 ms: a closure (espeak-ng's are near zero)
_MAX_CLOSURE_S = 0.15
_PAUSE_LOUDNESS = 0.25  # a pause event louder than this share of the speech's RMS is not a pause
_MAX_PAUSE_CLOSURE_S = 0.06  # after a pause, lips close shortly before the burst, not for the whole pause
_MIN_PHONE_S = 0.03
_STEP_S = 0.002
_RISE_WINDOW_S = 0.006
_RELEASE_RISE = 2.0  # +6 dB over the nasal murmur: the mouth has opened
_MAX_ECHO_AMP = 100  # espeak-ng caps a variant's echo amplitude here (units of 1/256)
_VARIANT_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# Debian's espeak-ng 1.51 "cmn" voice reads Han characters as English-spelled pinyin ("ni three");
# its "cmn-latn-pinyin" variant, with the same dictionary, pronounces them in Mandarin.
_HAN_VOICES = {"cmn": "cmn-latn-pinyin", "zh": "cmn-latn-pinyin", "zh-cmn": "cmn-latn-pinyin"}


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),  # milliseconds
        ("sample", ctypes.c_int),  # exact sample index of the event in this message's audio
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


class _Voice(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),  # priority byte + name, repeated, ending with a zero byte
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)
_ID_OFFSET = _Event.id.offset


class _Engine:
    """The process's one espeak-ng instance; the library keeps all its state in globals."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._lib = _open_library()
        lib = self._lib
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
            ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
        lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
        lib.espeak_SetVoiceByProperties.restype = ctypes.c_int
        lib.espeak_SetVoiceByProperties.argtypes = [ctypes.POINTER(_Voice)]
        options = _INITIALIZE_PHONEME_EVENTS | _INITIALIZE_PHONEME_IPA | _INITIALIZE_DONT_EXIT
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None, options)
        if rate <= 0:
            raise LivehumanError("espeak-ng failed to start: is espeak-ng-data installed? (apt install espeak-ng)")
        self.rate = rate
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, str]] = []
        self._callback = _SynthCallback(self._on_synth)  # kept referenced while the library holds it
        lib.espeak_SetSynthCallback(self._callback)
        self._voice: str | None = None
        self._voice_list = self._read_voices()
        lib.espeak_Info.restype = ctypes.c_char_p
        lib.espeak_Info.argtypes = [ctypes.POINTER(ctypes.c_char_p)]
        data = ctypes.c_char_p()
        lib.espeak_Info(ctypes.byref(data))
        self.data_path = Path(data.value.decode("utf-8", "replace")) if data.value else None

    def voices(self) -> list[str]:
        """Language codes of the installed voices, as `espeak-ng --voices` lists them."""
        return sorted({langs[0] for langs, _, _ in self._voice_list if langs})

    def described(self) -> list[tuple[str, str, list[str]]]:
        """(language code, name such as "English (America)", every language it speaks) per voice."""
        return sorted((langs[0], name, langs) for langs, _, name in self._voice_list if langs)

    def knows(self, voice: str) -> bool:
        """Whether `voice` ("en-us", "gmw/en-US", "English_(America)", with any "+variant") exists."""
        base = voice.split("+", 1)[0].strip().lower()
        for langs, names, _ in self._voice_list:
            if base in langs or base in names:
                return True
        return False

    def _read_voices(self) -> list[tuple[list[str], set[str], str]]:
        """(languages, lower-case names it answers to, display name) of every installed voice."""
        table = []
        array = self._lib.espeak_ListVoices(None)
        i = 0
        while array[i]:
            voice = array[i].contents
            ident = (voice.identifier or b"").decode("utf-8", "replace").lower()
            name = (voice.name or b"").decode("utf-8", "replace")
            table.append((_languages(voice.languages), {name.lower(), ident, ident.rsplit("/", 1)[-1]},
                          name.replace("_", " ")))
            i += 1
        return table

    def synthesize(
        self, text: str, voice: str, words_per_minute: int, pitch: int | None, end_pause: bool
    ) -> tuple[np.ndarray, list[tuple[int, str]]]:
        """Samples (int16) and phone events (sample index, IPA name; "" for pauses) for `text`."""
        data = text.encode("utf-8", "replace") + b"\0"  # (a lone surrogate from a JSON "\ud800" is no text)
        with self.lock:
            if voice != self._voice:
                # espeak-ng quietly takes an unknown name's prefix as a language ("klingon" -> "kl").
                if not self.knows(voice) or not self._set_voice(voice):
                    self._voice = None
                    raise LivehumanError(
                        f"unknown espeak-ng voice {voice!r}: run `livehuman voices` to see them (`--lang en` filters)"
                    )
                self._voice = voice
            # Rate and pitch are global too: set them on every call, another session may differ.
            self._lib.espeak_SetParameter(_PARAM_RATE, int(words_per_minute), 0)
            self._lib.espeak_SetParameter(_PARAM_PITCH, 50 if pitch is None else int(pitch), 0)
            self._chunks, self._events = [], []
            flags = _CHARS_UTF8 | (_ENDPAUSE if end_pause else 0)
            err = self._lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, flags, None, None)
            chunks, events = self._chunks, self._events
            self._chunks, self._events = [], []
        if err != _EE_OK:
            raise LivehumanError(f"espeak-ng could not synthesize the text (error {err})")
        samples = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
        return samples, events

    def echo(self, voice: str) -> tuple[int, float]:
        """(delay in samples, gain) of the echo `voice`'s variant adds ("en-us+f3": "echo 120 10");
        (0, 0.0) for none."""
        variant = voice.partition("+")[2].strip()
        if not _VARIANT_NAME.match(variant) or self.data_path is None:  # a file name, never a path
            return 0, 0.0
        try:
            lines = (self.data_path / "voices" / "!v" / variant).read_text("utf-8", "replace").splitlines()
        except OSError:  # not a variant file espeak-ng has: it speaks without one
            return 0, 0.0
        delay_ms, amp = 0, 0
        for line in lines:
            words = line.split("//")[0].split()
            if len(words) >= 3 and words[0] == "echo" and words[1].isdigit() and words[2].isdigit():
                delay_ms, amp = int(words[1]), min(int(words[2]), _MAX_ECHO_AMP)
        if delay_ms == 0 or amp == 0:
            return 0, 0.0
        # As wavegen.c sets it: a delay in milliseconds, an amplitude in 1/256 of the sound's.
        return delay_ms * self.rate // 1000, amp / 256.0

    def _set_voice(self, voice: str) -> bool:
        # By file or voice name first, then as a language ("en-gb", "zh"), as the espeak-ng CLI does.
        name = voice.encode("utf-8")
        if self._lib.espeak_SetVoiceByName(name) == _EE_OK:
            return True
        language = ctypes.create_string_buffer(voice.partition("+")[0].encode("utf-8"))
        spec = _Voice()
        spec.languages = ctypes.addressof(language)
        return self._lib.espeak_SetVoiceByProperties(ctypes.byref(spec)) == _EE_OK

    def _on_synth(self, wav, count, events) -> int:
        if wav and count > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, (count,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            event = events[i]
            if event.type == _EVENT_PHONEME:
                # The name fills up to 8 bytes and is NUL-terminated only when shorter.
                raw = ctypes.string_at(ctypes.addressof(event) + _ID_OFFSET, 8).split(b"\0")[0]
                self._events.append((event.sample, raw.decode("utf-8", "replace")))
            i += 1
        return 0


_engine: _Engine | None = None
_engine_lock = threading.Lock()


def _languages(pointer: int | None) -> list[str]:
    # Repeated (priority byte, NUL-terminated name), ended by a zero priority byte.
    found: list[str] = []
    if not pointer:
        return found
    offset = 0
    while ctypes.string_at(pointer + offset, 1) != b"\0":
        name = ctypes.string_at(pointer + offset + 1)
        found.append(name.decode("utf-8", "replace").lower())
        offset += len(name) + 2
    return found


def _get_engine() -> _Engine:
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = _Engine()
        return _engine


def _open_library() -> ctypes.CDLL:
    names = list(_LIBRARY_NAMES)
    found = ctypes.util.find_library("espeak-ng")
    if found:
        names.append(found)
    for name in names:
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    raise LivehumanError("espeak-ng's library (libespeak-ng.so.1) is missing: apt install libespeak-ng1")


def list_voices() -> list[str]:
    """The espeak-ng voices (language codes such as "en-us", "cmn", "ja") installed here."""
    return _get_engine().voices()


def describe_voices(language: str | None = None) -> list[tuple[str, str]]:
    """(voice code, language name) of the installed voices; `language` ("zh", "en-gb") keeps the
    voices that speak it (as a code or a code's prefix, so "en" finds every English voice)."""
    wanted = language.strip().lower() if language else None
    out = []
    for code, name, langs in _get_engine().described():
        if wanted is None or any(lang == wanted or lang.startswith(wanted + "-") for lang in langs):
            out.append((code, name))
    return out


class EspeakTTS:
    """espeak-ng text to speech at 22050 Hz, with IPA phones timed to the sample."""

    def __init__(self, voice: str = "en-us", words_per_minute: int = 160, pitch: int | None = None) -> None:
        if not voice or not voice.strip():
            raise LivehumanError("empty espeak-ng voice name: run `livehuman voices` to see the voices")
        if not 80 <= words_per_minute <= 450:
            raise LivehumanError(f"words per minute must be within 80..450, got {words_per_minute}")
        if pitch is not None and not 0 <= pitch <= 100:
            raise LivehumanError(f"espeak-ng pitch must be within 0..100, got {pitch}")
        self.voice = voice.strip()
        self.words_per_minute = words_per_minute
        self.pitch = pitch
        self._engine = _get_engine()
        self.rate = self._engine.rate
        # Read once: a voice Han text is switched to (_HAN_VOICES) has no variant, so no echo.
        self._echo = self._engine.echo(self.voice)
        # Fail on a bad voice now rather than in the middle of a reply.
        self._engine.synthesize(" ", self.voice, words_per_minute, pitch, end_pause=False)

    def synthesize(self, text: str) -> Speech:
        """Speak `text` in one piece; phones are exact (from espeak-ng's own events)."""
        return self._speak(text, end_pause=False)

    def sentences(self, text: str) -> Iterator[Speech]:
        """Speak `text` one sentence at a time, so playback can start after the first one."""
        parts = split_sentences(text)
        if not parts:
            raise LivehumanError("nothing to say: the text is empty")
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            speech = self._speak(part, end_pause=not last, allow_silent=True)
            if speech.phones:  # a sentence of bare punctuation ("...") says nothing
                yield speech

    def _speak(self, text: str, end_pause: bool, allow_silent: bool = False) -> Speech:
        if not text or not text.strip():
            raise LivehumanError("nothing to say: the text is empty")
        text = text.replace("\0", " ")  # the C API reads up to the first NUL
        voice = self.voice
        if voice.lower() in _HAN_VOICES and _HAN.search(text):
            voice = _HAN_VOICES[voice.lower()]
        samples, events = self._engine.synthesize(speakable(text, voice), voice, self.words_per_minute, self.pitch, end_pause)
        audio = Audio(samples.astype(np.float32) / 32768.0, self.rate)
        phones = _phones_from_events(events, samples, self.rate)
        if not phones and not allow_silent:
            raise LivehumanError(f"nothing to say: espeak-ng finds no speech in {text[:40]!r}")
        # A variant's echo fills a stop's silent closure, where the alignment looks for the lips
        # shutting; it is read on the sound without it.
        dry = Audio(without_echo(audio.samples, *self._echo), self.rate)
        return Speech(audio=audio, phones=align_to_waveform(phones, dry), text=text)


def split_sentences(text: str) -> list[str]:
    """`text` cut after each sentence's final punctuation (. ! ? … and 。！？)."""
    return [p.strip() for p in _SENTENCE_END.split(text) if p and p.strip()]


def _phones_from_events(events: list[tuple[int, str]], samples: np.ndarray, rate: int) -> list[Phone]:
    # Each phone lasts until the next event (phone or pause). Empty names are pauses, and
    # "(en)"-style names mark a switch of language: neither is a sound. espeak-ng also sends
    # empty-named events inside words (between the vowels of "video"): where such a "pause" is
    # loud, the previous phone is still sounding, so it keeps the time.
    phones: list[Phone] = []
    n_samples = len(samples)
    loud = _PAUSE_LOUDNESS * float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if n_samples else 0.0
    for i, (sample, name) in enumerate(events):
        end = next((s for s, _ in events[i + 1 :] if s > sample), n_samples)
        end = min(end, n_samples)
        if end <= sample:
            continue
        if not name or name.startswith("("):
            if i + 1 < len(events) and events[i + 1][0] == sample:
                # A word boundary at the very sample where the next phone starts ("mɑ | mai" in
                # Mandarin): it lasts no time, and must not hand the next phone's sound to the last.
                continue
            span = samples[sample:end].astype(np.float64)
            voiced = span.size and float(np.sqrt(np.mean(span**2))) > loud
            if voiced and phones and abs(phones[-1].end - sample / rate) < 1e-6:
                phones[-1] = Phone(phones[-1].symbol, phones[-1].start, end / rate)
            continue
        symbol = _ipa(name)
        if _is_modifier(symbol):
            # Japanese "kʲo": espeak-ng sends the palatalisation "ʲ" as a phone of its own. It is
            # part of the consonant before it, not a silence between two phones.
            if phones and abs(phones[-1].end - sample / rate) < 1e-6:
                phones[-1] = Phone(phones[-1].symbol + symbol, phones[-1].start, end / rate)
            continue
        phones.append(Phone(symbol, sample / rate, end / rate))
    return phones


def _is_modifier(symbol: str) -> bool:
    # Modifier letters and combining marks (ʲ ʰ ̃) only colour the letter before them.
    return all(unicodedata.category(ch) in ("Lm", "Mn", "Sk") for ch in symbol)


def align_to_waveform(phones: list[Phone], audio: Audio) -> list[Phone]:
    """Phones with stop closures and nasal releases moved to where espeak-ng's waveform has them.

    espeak-ng marks a stop at its burst: the closure's silence before it is reported as the end
    of the previous phone, though the lips or tongue are already shut. And a nasal's event span
    holds the first ~25 ms of the next vowel's opening. Both are exact in the waveform (the
    closure is digital silence; the release is a step up in level), so we read them there.
    """
    if not phones:
        return phones
    rms = _RunningRms(audio)
    silence = rms.loudest * 10 ** (_CLOSURE_SILENCE_DB / 20)
    out = list(phones)
    for i, phone in enumerate(out):
        prev = out[i - 1] if i else None
        adjacent = prev is not None and abs(prev.end - phone.start) < 1e-6
        if _is_stop(phone.symbol):
            floor = max(0.0, phone.start - (_MAX_CLOSURE_S if adjacent else _MAX_PAUSE_CLOSURE_S))
            if adjacent:
                floor = max(floor, prev.start + _MIN_PHONE_S)
            elif prev is not None:
                floor = max(floor, prev.end)
            start = phone.start
            while start - _STEP_S >= floor and rms(start - _STEP_S, start) < silence:
                start -= _STEP_S
            if start < phone.start:
                out[i] = Phone(phone.symbol, start, phone.end)
                if adjacent:
                    out[i - 1] = Phone(prev.symbol, prev.start, start)
        nxt = out[i + 1] if i + 1 < len(out) else None
        if phone.symbol in _NASALS and nxt is not None and _is_vowel(nxt.symbol) and nxt.start == phone.end:
            phone = out[i]
            murmur = rms(phone.start, phone.start + phone.duration / 2)
            t = phone.start + max(_MIN_PHONE_S, phone.duration / 2)
            while t < phone.end:
                if rms(t, t + _RISE_WINDOW_S) > murmur * _RELEASE_RISE:
                    out[i] = Phone(phone.symbol, phone.start, t)
                    out[i + 1] = Phone(nxt.symbol, t, nxt.end)
                    break
                t += _STEP_S
    return out


def without_echo(samples: np.ndarray, delay: int, gain: float) -> np.ndarray:
    """`samples` with espeak-ng's echo taken out.

    espeak-ng adds a variant's echo by feedback, y[n] = x[n] + gain * y[n - delay], so the dry sound
    is y[n] - gain * y[n - delay]. The echo matters for timing: a female variant's echo keeps a
    stop's closure at -30 dB instead of digital silence, and its phone events put the stop 35-50 ms
    after the closure begins (the lips would shut a frame late).
    """
    if delay <= 0 or gain <= 0 or delay >= len(samples):
        return samples
    dry = samples.copy()
    dry[delay:] -= gain * samples[:-delay]
    return dry


class _RunningRms:
    """RMS of any stretch of an audio signal in O(1), from a cumulative sum of squares."""

    def __init__(self, audio: Audio) -> None:
        self.rate = audio.rate
        x = audio.samples.astype(np.float64)
        self._cum = np.concatenate([[0.0], np.cumsum(x * x)])
        win = max(1, int(0.02 * self.rate))
        energy = self._cum[win:] - self._cum[:-win]
        self.loudest = float(np.sqrt(energy.max() / win)) if len(energy) else 0.0

    def __call__(self, t0: float, t1: float) -> float:
        n = len(self._cum) - 1
        i, j = (min(n, max(0, int(round(t * self.rate)))) for t in (t0, t1))
        if j <= i:
            return 0.0
        return float(np.sqrt((self._cum[j] - self._cum[i]) / (j - i)))


def _is_stop(symbol: str) -> bool:
    return symbol[:1] in _STOP_LETTERS


def _is_vowel(symbol: str) -> bool:
    return any(c in _VOWEL_LETTERS for c in symbol)


def _ipa(name: str) -> str:
    # espeak-ng 1.51 leaves a few ASCII phoneme names in its IPA output (Mandarin's retroflexes
    # "s.", aspiration "th"); write them as IPA so the motion stage sees one alphabet.
    name = name.rstrip("-")
    for ascii_name, ipa in _ASCII_TO_IPA:
        name = name.replace(ascii_name, ipa)
    if len(name) > 1 and name.endswith("h") and name[:-1] in _ASPIRABLE:
        name = name[:-1] + "ʰ"
    return name
