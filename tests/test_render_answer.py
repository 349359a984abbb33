"""`render --brain local`: one question, the offline brain's whole spoken answer as Speech, from typed events."""

from __future__ import annotations

import numpy as np
import pytest

from helpers_speech import espeak_wav, write_wav
from livehuman.brain.render_answer import answer_speech
from livehuman.errors import LivehumanError


@pytest.mark.slow
def test_a_spoken_question_gets_the_whole_answer_with_its_phones(tmp_path):
    question = espeak_wav(tmp_path / "q.wav", "What is your name?")
    speech = answer_speech(audio_path=str(question), brain="local")
    assert speech.audio.rate == 24000 and speech.audio.duration > 1.0
    assert len(speech.text.split()) >= 3  # what it says depends on what pocketsphinx heard
    # Phones across the whole answer, in order, inside its audio (each sentence's from the reply's start).
    assert speech.phones and speech.phones[-1].end <= speech.audio.duration + 0.01
    starts = [p.start for p in speech.phones]
    assert starts == sorted(starts) and starts[-1] > speech.audio.duration / 2
    a, b = int(speech.phones[0].start * 24000), int(speech.phones[-1].end * 24000)
    assert np.sqrt(np.mean(speech.audio.samples[a:b] ** 2)) > 0.05


def test_bad_questions_are_refused_in_one_line(tmp_path):
    with pytest.raises(LivehumanError, match="exactly one question"):
        answer_speech(brain="local")
    silent = write_wav(tmp_path / "silent.wav", np.zeros(16000, np.float32), 16000)
    with pytest.raises(LivehumanError, match="silent"):
        answer_speech(audio_path=str(silent), brain="local")


FAQ = """- q: When does the shop open?
  also: ["What are your opening hours?"]
  a: We open at nine every morning, Monday to Saturday.
- q: Do you deliver abroad?
  a: Yes, we ship to every country in Europe within five days.
"""


def test_a_knowledge_file_gives_its_own_answer(tmp_path):
    faq = tmp_path / "faq.yaml"
    faq.write_text(FAQ)
    speech = answer_speech(text="What are your opening hours?", brain="local", knowledge=str(faq))
    assert "nine every morning" in speech.text, speech.text
    assert speech.audio.duration > 2.0 and speech.phones
    other = answer_speech(text="Do you deliver abroad?", brain="local", knowledge=str(faq))
    assert "every country in Europe" in other.text, other.text


def test_a_bad_knowledge_file_is_refused_in_one_line(tmp_path):
    with pytest.raises(LivehumanError, match="knowledge file not found"):
        answer_speech(text="Hello?", brain="local", knowledge=str(tmp_path / "missing.yaml"))
    with pytest.raises(LivehumanError, match="--knowledge is for the local brain"):
        answer_speech(text="Hello?", brain="openai", knowledge=str(tmp_path / "faq.yaml"))
