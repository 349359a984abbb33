"""The end-of-turn model: Whisper log-mel features by their definition, and the model file's loading."""

from __future__ import annotations

import numpy as np
import pytest

from livehuman.errors import LivehumanError
from livehuman.speech.end_of_turn import N_MELS, EndOfTurnModel, find_model, log_mel
from livehuman.speech.espeak import EspeakTTS
from livehuman.speech.audio import resample

RATE = 16000


def test_features_have_whisper_shape_and_range():
    t = np.arange(3 * RATE) / RATE
    features = log_mel((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32))
    assert features.shape == (N_MELS, 800) and features.dtype == np.float32
    # log10 power clamped to 8 decades under the peak, then (x + 4) / 4: a span of at most 2
    assert features.max() - features.min() <= 2.0 + 1e-5


def test_a_tone_lights_the_mel_band_of_its_pitch_and_the_end_holds_the_audio():
    t = np.arange(2 * RATE) / RATE
    low = log_mel((0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32))
    high = log_mel((0.3 * np.sin(2 * np.pi * 3000 * t)).astype(np.float32))
    # Two seconds of sound are the last 200 of 800 frames: the front is padding (silence).
    band_low = int(np.argmax(low[:, -100]))
    band_high = int(np.argmax(high[:, -100]))
    assert band_low < band_high
    assert band_low < 20 < 45 < band_high  # 300 Hz is low on the mel scale, 3 kHz high (80 bands to 8 kHz)
    assert low[band_low, :500].max() < low[band_low, -100] - 0.5


def test_only_the_last_eight_seconds_count():
    rng = np.random.default_rng(1)
    tail = (0.1 * rng.standard_normal(8 * RATE)).astype(np.float32)
    head = (0.5 * rng.standard_normal(4 * RATE)).astype(np.float32)
    np.testing.assert_allclose(log_mel(np.concatenate([head, tail])), log_mel(tail), atol=1e-4)


def test_missing_and_broken_model_files_are_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("LIVEHUMAN_TURN_MODEL", raising=False)
    with pytest.raises(LivehumanError, match="end-of-turn model .* is missing"):
        find_model(tmp_path / "nope.onnx")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(LivehumanError, match="cannot load the end-of-turn model"):
        EndOfTurnModel(broken)


def test_the_model_set_up_extracted_answers_a_probability_for_real_speech():
    model = EndOfTurnModel()  # set-up put it in the environment
    speech = EspeakTTS("en-us").synthesize("I would like to book a table for two people tonight.")
    audio = resample(speech.audio, RATE).samples
    p = model.probability(audio)
    assert 0.0 <= p <= 1.0
    # The model reads the features, not noise in them: the same audio gives the same answer, and
    # speech with its end cut off is heard differently from the whole of it.
    assert model.probability(audio) == pytest.approx(p, abs=1e-6)
    cut = audio[: len(audio) // 2]
    assert abs(model.probability(cut) - p) > 1e-3
