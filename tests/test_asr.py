"""Streaming ASR on real synthetic speech (espeak-ng, flite): word accuracy, partials, errors.

Run with -s to see the measured word accuracies.
"""

import functools

import pytest

from helpers_listen import espeak, flite, silence, word_errors, words
from livehuman.brain.knowledge import load_knowledge
from livehuman.errors import LivehumanError
from livehuman.speech.arpabet import ipa_to_pocketsphinx
from livehuman.speech.asr import PocketSphinxASR, StreamingASR, WhisperASR, make_asr

# Questions a visitor would ask about livehuman (not verbatim knowledge-base questions).
IN_DOMAIN = [
    "what is livehuman",
    "do i need a graphics card",
    "how much does it cost",
    "can i use my own face",
    "which languages does it speak",
    "how do i start a live conversation",
    "my name is john",
    "tell me more",
    "does it work offline",
    "how fast does it answer",
]
# Everyday English outside the knowledge base.
GENERAL = [
    "the weather is nice today",
    "please open the window",
    "i would like a cup of coffee",
    "my brother lives in a big city",
    "the train leaves at seven",
]


def transcribe(asr: StreamingASR, audio, chunk: int = 320) -> tuple[str, list[str]]:
    partials = []
    for i in range(0, len(audio), chunk):
        p = asr.accept(audio[i : i + chunk])
        if p is not None:
            partials.append(p)
    return asr.finish(), partials


@functools.cache
def speech(speak, text: str):
    return speak(text)


_measured: dict = {}


def accuracy(asr: StreamingASR, sentences: list[str], speak) -> float:
    """Word accuracy of `asr` on `sentences` spoken by `speak` (measured once per module run)."""
    key = (id(asr), tuple(sentences), speak)
    if key not in _measured:
        _measured[key] = _accuracy(asr, sentences, speak)
    return _measured[key]


def _accuracy(asr: StreamingASR, sentences: list[str], speak) -> float:
    errors = total = 0
    for s in sentences:
        text, _ = transcribe(asr, speech(speak, s))
        errors += word_errors(words(s), words(text))
        total += len(words(s))
    return 1 - errors / total


@pytest.fixture(scope="module")
def general():
    return PocketSphinxASR()


def kb_vocabulary() -> list[str]:
    return load_knowledge().vocabulary()


@pytest.fixture(scope="module")
def domain():
    return PocketSphinxASR(kb_vocabulary(), general=False)


@pytest.fixture(scope="module")
def hybrid():
    return PocketSphinxASR(kb_vocabulary())


# Floors sit below what was measured on this machine (printed by -s) with room to spare;
# flite's voice is far easier for pocketsphinx than espeak-ng's formant voice.
@pytest.mark.parametrize(
    "lm,sentences,speak,floor",
    [
        ("general", GENERAL, flite, 0.8),
        ("general", IN_DOMAIN, espeak, 0.15),
        ("domain", IN_DOMAIN, espeak, 0.6),
        ("hybrid", IN_DOMAIN, espeak, 0.6),
        ("hybrid", IN_DOMAIN, flite, 0.85),
        ("hybrid", GENERAL, flite, 0.8),
    ],
)
@pytest.mark.slow
def test_word_accuracy(request, lm, sentences, speak, floor):
    asr = request.getfixturevalue(lm)
    acc = accuracy(asr, sentences, speak)
    print(f"\n{lm} LM, {'in-domain' if sentences is IN_DOMAIN else 'general'} speech by "
          f"{speak.__name__}: word accuracy {acc:.2f}")
    assert acc >= floor


@pytest.mark.slow
def test_hybrid_keeps_the_best_of_both(general, domain, hybrid):
    # The vocabulary LM alone wins in its domain and fails outside it...
    assert accuracy(domain, IN_DOMAIN, espeak) > accuracy(general, IN_DOMAIN, espeak) + 0.2
    assert accuracy(domain, GENERAL, flite) < 0.5
    # ...and running both, best path score first, keeps each one's strength.
    assert accuracy(hybrid, IN_DOMAIN, espeak) >= accuracy(domain, IN_DOMAIN, espeak) - 0.1
    assert accuracy(hybrid, GENERAL, flite) >= accuracy(general, GENERAL, flite) - 0.1


def test_a_vocabulary_leaves_no_files_behind(tmp_path, monkeypatch):
    # A recognizer whose process is stopped (serve's ProcessASR) never runs its clean-up: files it
    # kept while alive were left in /tmp for every recognizer process ever started.
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    asr = PocketSphinxASR(vocabulary=["What is livehuman?"], general=False)
    assert list(tmp_path.iterdir()) == []
    text, _ = transcribe(asr, flite("what is livehuman"))  # it still knows the vocabulary's words
    assert "livehuman" in text.split()


def test_compound_words_come_back_whole(hybrid):
    text, _ = transcribe(hybrid, flite("what is livehuman"))
    assert "livehuman" in text.split()


@pytest.mark.slow
def test_words_the_dictionary_lacks_are_said_as_espeak_says_them(hybrid):
    # The knowledge base asks about "gpu", "ollama" and "openai": pocketsphinx's dictionary has
    # none of them, and without a pronunciation they would be left out of the vocabulary LM.
    for sentence, word in [("do i need a gpu", "gpu"), ("can i use ollama", "ollama"),
                           ("does it work with openai", "openai")]:
        for speak in (espeak, flite):
            text, _ = transcribe(hybrid, speech(speak, sentence))
            assert word in text.split(), (speak.__name__, sentence, text)


def test_espeak_ipa_becomes_pocketsphinx_phones():
    assert ipa_to_pocketsphinx(["dʒ", "iː", "p", "iː", "j", "uː"]) == ["JH", "IY", "P", "IY", "Y", "UW"]
    assert ipa_to_pocketsphinx(["w", "ɛ", "b", "ɑːɹ"]) == ["W", "EH", "B", "AA", "R"]  # "ɑːɹ" is two
    assert ipa_to_pocketsphinx(["b", "ʌ", "ʔ", "n̩"]) == ["B", "AH", "N"]  # glottal stop, syllabic mark
    assert ipa_to_pocketsphinx(["h", "ɪɹ"]) == ["HH", "IY", "R"]  # CMUdict's "here"
    assert ipa_to_pocketsphinx(["k", "j", "ʊɹ", "ɹ", "iə", "s"]) == ["K", "Y", "UH", "R", "IY", "AH", "S"]  # one R
    assert ipa_to_pocketsphinx(["k", "ɬ"]) is None  # no counterpart: the word is left out


@pytest.mark.slow
def test_partials_stream_and_utterances_are_independent(general):
    audio = flite("please open the window and close the door")
    text, partials = transcribe(general, audio, chunk=480)
    assert partials and all(p for p in partials)
    assert len(set(partials)) == len(partials)  # only changes are reported
    assert "window" in text and text.startswith(partials[-1].split()[0])
    # The next utterance starts from scratch.
    text2, _ = transcribe(general, flite("the train leaves at seven"))
    assert "window" not in text2 and "train" in text2


@pytest.mark.slow
def test_reset_and_empty_utterances(general):
    assert general.finish() == ""
    general.accept(flite("please open the window")[:16000])
    general.reset()
    text, _ = transcribe(general, flite("the train leaves at seven"))
    assert "window" not in text
    assert transcribe(general, silence(1.0))[0] == ""


def test_whisper_error_paths(tmp_path):
    with pytest.raises(LivehumanError, match="not found"):
        WhisperASR(str(tmp_path / "nowhere"))
    with pytest.raises(LivehumanError, match="no model.bin"):
        make_asr(str(tmp_path))
    (tmp_path / "model.bin").write_bytes(b"not a model")
    try:
        import faster_whisper  # noqa: F401
    except ImportError:
        with pytest.raises(LivehumanError, match="pip install faster-whisper"):
            make_asr(str(tmp_path))
    else:
        with pytest.raises(LivehumanError, match="cannot load the whisper model"):
            make_asr(str(tmp_path))


def test_make_asr_defaults_to_pocketsphinx():
    assert isinstance(make_asr(None), PocketSphinxASR)


@pytest.mark.slow
def test_without_second_pass():
    acc = accuracy(make_asr(None, second_pass=False), GENERAL[:3], flite)
    print(f"\ngeneral LM without the second pass, general speech by flite: word accuracy {acc:.2f}")
    assert acc >= 0.6


# Spoken paraphrases of knowledge-base questions and the entry each one means.
SPOKEN_QUESTIONS = {
    "is a graphics card required": "What hardware does livehuman need?",
    "is there a fee to use it": "How much does livehuman cost?",
    "can it talk in spanish": "Which languages does it speak?",
    "how do i put my own face on the avatar": "Can I use my own face?",
    "how long does it take to reply": "How fast does it answer?",
    "what happens if i speak while you are talking": "Can I interrupt you while you are speaking?",
    "does it send my voice to the cloud": "Does it work offline?",
    "how do i turn an audio file into a talking video": "How do I make a lip-synced video?",
}


@pytest.mark.slow
def test_spoken_questions_reach_the_right_answer(hybrid):
    from livehuman.brain.dialogue import Dialogue
    from livehuman.brain.knowledge import default_knowledge

    kb = default_knowledge()
    right = 0
    for question, entry in SPOKEN_QUESTIONS.items():
        heard, _ = transcribe(hybrid, speech(flite, question))
        dialogue = Dialogue(knowledge=kb)
        dialogue.respond(heard)
        right += dialogue.topic is not None and dialogue.topic.question == entry
    print(f"\nflite speech -> ASR -> retrieval: {right}/{len(SPOKEN_QUESTIONS)} right answers")
    assert right >= len(SPOKEN_QUESTIONS) - 2


@pytest.mark.slow
def test_hypothesis_mid_utterance_is_what_finish_gives_without_second_pass():
    # What a live brain relies on to prepare its reply during the user's pause.
    asr = make_asr(None, vocabulary=kb_vocabulary(), second_pass=False)
    assert asr.hypothesis() == ""  # no utterance yet
    for text in ("what is livehuman", "what hardware does livehuman need", "how do I make a lip synced video"):
        audio = espeak(text)
        for i in range(0, len(audio), 320):
            asr.accept(audio[i : i + 320])
        asr.accept(silence(0.15))
        early = asr.hypothesis()
        assert early
        asr.accept(silence(0.15))
        assert asr.finish() == early
        assert asr.hypothesis() == ""
    # A hypothesis does not end the utterance: speech after it joins the same text.
    asr.accept(espeak("what is livehuman"))
    early = asr.hypothesis()
    asr.accept(silence(0.3))
    asr.accept(espeak("what hardware does livehuman need"))
    final = asr.finish()
    assert final.startswith(early) and len(final.split()) > len(early.split()) + 2
