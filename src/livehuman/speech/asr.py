"""Streaming speech recognition: pocketsphinx (ships with its model) or faster-whisper (user's model)."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import numpy as np

from livehuman.errors import LivehumanError
from livehuman.rates import LISTEN_RATE
from livehuman.speech.audio import as_float32, pcm16_bytes

PARTIAL_EVERY = 0.2  # seconds of new audio between partial hypotheses (pocketsphinx)
FEED_BYTES = 2 * LISTEN_RATE * 20 // 1000  # 20 ms of PCM16 per pocketsphinx call (see accept)
# Words every conversation needs, whatever the knowledge base: they go into a biased LM.
CONVERSATION = """\
hello
hi there
hi i'm alex
hello my name is alex
my name is sam
call me max
what's my name
what is your name
who are you
how are you
thank you
thanks
thank you very much
goodbye
bye
see you later
yes
no
okay
tell me more
what else
what about that
and how much does it cost
how does it work
what can you do
can you help me
i don't understand
can you repeat that
"""
# So that "my name is …" survives a vocabulary-biased LM for the most common first names.
NAMES = """james john robert michael william david richard joseph thomas charles daniel matthew
anthony mark paul steven andrew peter alex sam max tom ben jack mary patricia jennifer linda
elizabeth barbara susan jessica sarah karen lisa nancy emma olivia anna sophia maria laura
julia alice bob carol dana eve kate""".split()


class StreamingASR:
    """One utterance at a time: `accept` audio (partials), `finish` for the final text."""

    def accept(self, samples16k: np.ndarray) -> str | None:
        """Take 16 kHz mono audio; return the partial hypothesis when it changed, else None."""
        raise NotImplementedError

    def finish(self) -> str:
        """The utterance's final text; the recognizer is then ready for the next utterance."""
        raise NotImplementedError

    def reset(self) -> None:
        """Drop the current utterance without a result."""
        raise NotImplementedError

    def hypothesis(self) -> str | None:
        """The best text for the audio so far, cheaply, without ending the utterance (None: unknown)."""
        return None

    def _changed(self, text: str) -> str | None:
        """`text` when it is a new, non-empty partial (remembered in `_last`), else None."""
        if text and text != self._last:
            self._last = text
            return text
        return None


class PocketSphinxASR(StreamingASR):
    """pocketsphinx with the en-US model from its wheel, optionally biased toward a vocabulary.

    With `vocabulary` (sentences, e.g. the knowledge base's questions) a second decoder runs on a
    small LM built from them plus everyday conversation (greetings, thanks, "my name is …" with
    common first names, follow-ups). Both decode every utterance and the hypothesis with the better
    path score wins: in-domain questions come out as well as with the small LM alone, other speech
    as well as with the general LM alone (tests/test_asr.py measures both). `general=False` keeps
    only the small LM: cheaper, but speech outside the vocabulary comes out as word salad.
    `second_pass=False` skips pocketsphinx's flat-lexicon and lattice passes at the end of each
    utterance: finish() drops from about 200 ms to 30 ms on one core, for some word accuracy.
    """

    def __init__(self, vocabulary: list[str] | None = None, general: bool = True, second_pass: bool = True) -> None:
        try:
            import pocketsphinx
        except ImportError:
            raise LivehumanError("speech recognition needs pocketsphinx: pip install pocketsphinx") from None
        model = Path(pocketsphinx.get_model_path()) / "en-us"
        config = {"hmm": str(model / "en-us"), "samprate": LISTEN_RATE, "loglevel": "FATAL"}
        if not second_pass:
            # finish() then costs ~30 ms instead of ~200 ms, for a few points of word accuracy.
            config.update(fwdflat=False, bestpath=False)
        self._joins: dict[str, str] = {}
        self._decoders = []
        if general or not vocabulary:
            self._decoders.append(pocketsphinx.Decoder(
                **config, dict=str(model / "cmudict-en-us.dict"), lm=str(model / "en-us.lm.bin")))
        if vocabulary:
            # The decoder reads its files as it is made: they are gone before it is used, so that
            # none are left behind by a recognizer whose process is stopped (recognizer.ProcessASR).
            with tempfile.TemporaryDirectory(prefix="livehuman-asr-") as folder:
                lm, dic, self._joins = self._vocabulary_lm(vocabulary, model / "cmudict-en-us.dict", Path(folder))
                self._decoders.append(pocketsphinx.Decoder(**config, dict=dic, lm=lm))
        self._started = False
        self._pending = 0
        self._last = ""

    @staticmethod
    def _vocabulary_lm(vocabulary: list[str], dict_path: Path, folder: Path) -> tuple[str, str, dict[str, str]]:
        """ARPA LM and dictionary files for the vocabulary, and the compounds to re-join in results."""
        from pocketsphinx.lm import ArpaBoLM

        known: dict[str, list[str]] = {}
        with open(dict_path, encoding="utf-8") as f:
            for line in f:
                known.setdefault(line.split(" ", 1)[0].split("(", 1)[0], []).append(line)
        joins: dict[str, str] = {}
        guess = _Pronouncer()

        def spoken(word: str) -> list[str]:
            if word in known:
                return [word]
            # A compound the dictionary lacks ("livehuman") is said as its parts ("live human").
            for i in range(2, len(word) - 1):
                if word[:i] in known and word[i:] in known:
                    joins[f"{word[:i]} {word[i:]}"] = word
                    return [word[:i], word[i:]]
            # Any other word ("gpu", a product's name) is said as espeak-ng's rules say it.
            phones = guess(word)
            if phones is None:
                return []  # unpronounceable words would make the LM unusable: drop them
            known[word] = [f"{word} {' '.join(phones)}\n"]
            return [word]

        corpus = list(vocabulary) + CONVERSATION.splitlines() + [f"my name is {n}" for n in NAMES]
        lines = []
        for sentence in corpus:
            words = [p for w in re.findall(r"[a-z']+", sentence.lower().replace("-", " ")) for p in spoken(w)]
            if words:
                lines.append(" ".join(words))
        lm = ArpaBoLM(text="\n".join(lines) + "\n", add_start=True, discount_mass=0.5)
        lm.compute()
        lm_file, dict_file = folder / "vocabulary.arpa", folder / "vocabulary.dict"
        with open(lm_file, "w", encoding="utf-8") as f:
            lm.write(f)
        # Only the LM's words: loading the whole 134k-word dictionary takes seconds.
        used = sorted({w for line in lines for w in line.split()})
        with open(dict_file, "w", encoding="utf-8") as f:
            f.writelines(entry for w in used for entry in known[w])
        return str(lm_file), str(dict_file), joins

    def _best(self) -> str:
        # Same acoustic model and log base in every decoder: path scores compare directly.
        hyps = [h for h in (d.hyp() for d in self._decoders) if h is not None and h.hypstr]
        if not hyps:
            return ""
        text = max(hyps, key=lambda h: h.score).hypstr
        for parts, word in self._joins.items():
            text = re.sub(rf"\b{parts}\b", word, text)
        return text

    def accept(self, samples16k: np.ndarray) -> str | None:
        if not self._started:
            for d in self._decoders:
                d.start_utt()
            self._started = True
        pcm = pcm16_bytes(samples16k)
        # pocketsphinx holds the GIL for a whole process_raw call (about 140 ms per second of audio
        # per decoder): short slices let the event loop and other sessions run in between.
        for i in range(0, len(pcm), FEED_BYTES):
            piece = pcm[i : i + FEED_BYTES]
            for d in self._decoders:
                d.process_raw(piece, False, False)
        self._pending += len(pcm) // 2
        if self._pending < PARTIAL_EVERY * LISTEN_RATE:
            return None
        self._pending = 0
        return self._changed(self._best())

    def hypothesis(self) -> str | None:
        # Without the second pass, finish() keeps this first-pass hypothesis nearly always.
        return self._best() if self._started else ""

    def finish(self) -> str:
        if not self._started:
            return ""
        for d in self._decoders:
            d.end_utt()
        text = self._best()
        self._started, self._pending, self._last = False, 0, ""
        return text

    def reset(self) -> None:
        if self._started:
            for d in self._decoders:
                d.end_utt()
        self._started, self._pending, self._last = False, 0, ""


class _Pronouncer:
    """Pronunciations of words the dictionary lacks, in pocketsphinx's phones, from espeak-ng."""

    def __init__(self) -> None:
        self._tts = None
        self._unavailable = False

    def __call__(self, word: str) -> list[str] | None:
        from livehuman.speech.arpabet import ipa_to_pocketsphinx
        from livehuman.speech.espeak import EspeakTTS

        if self._tts is None and not self._unavailable:
            try:
                self._tts = EspeakTTS()
            except (LivehumanError, OSError):  # no espeak-ng: such words are left out, as before
                self._unavailable = True
        if self._tts is None:
            return None
        try:
            phones = self._tts.synthesize(word).phones
        except LivehumanError:  # nothing espeak-ng can say
            return None
        return ipa_to_pocketsphinx([p.symbol for p in phones])


class WhisperASR(StreamingASR):
    """faster-whisper on a CTranslate2 model directory the user provides; partials re-decode the buffer."""

    def __init__(self, model_dir: str, partial_every: float = 1.0, language: str | None = None) -> None:
        path = Path(model_dir).expanduser()
        if not path.is_dir():
            raise LivehumanError(f"whisper model directory not found: {path}")
        if not (path / "model.bin").is_file():
            raise LivehumanError(
                f"{path} has no model.bin: point --asr-model at a faster-whisper (CTranslate2) model "
                "directory, e.g. one converted with ct2-transformers-converter"
            )
        try:
            from faster_whisper import WhisperModel
        except ImportError:
            raise LivehumanError("--asr-model needs faster-whisper: pip install faster-whisper") from None
        try:
            self._model = WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=1)
        except Exception as e:  # CTranslate2 raises plain RuntimeError/ValueError on bad files
            raise LivehumanError(f"cannot load the whisper model in {path}: {e}") from None
        self.language = language
        self.partial_every = partial_every
        self.reset()

    def _transcribe(self, audio: np.ndarray) -> str:
        segments, _ = self._model.transcribe(
            audio, language=self.language, beam_size=1, vad_filter=False, condition_on_previous_text=False
        )
        return " ".join(s.text.strip() for s in segments).strip()

    def accept(self, samples16k: np.ndarray) -> str | None:
        self._chunks.append(as_float32(samples16k))
        self._samples += len(self._chunks[-1])
        if self._samples - self._decoded_at < self.partial_every * LISTEN_RATE:
            return None
        self._decoded_at = self._samples
        return self._changed(self._transcribe(np.concatenate(self._chunks)))

    def finish(self) -> str:
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.float32)
        self.reset()
        return self._transcribe(audio) if len(audio) >= LISTEN_RATE // 10 else ""

    def reset(self) -> None:
        self._chunks: list[np.ndarray] = []
        self._samples = 0
        self._decoded_at = 0
        self._last = ""


def make_asr(model_dir: str | None, vocabulary: list[str] | None = None, *, second_pass: bool = True) -> StreamingASR:
    """faster-whisper when `model_dir` is given, else pocketsphinx (biased to `vocabulary` if given)."""
    if model_dir:
        return WhisperASR(model_dir)
    return PocketSphinxASR(vocabulary, second_pass=second_pass)
