"""Audio I/O: decoding real speech in many containers, resampling, PCM16, WAV, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from helpers_speech import best_lag, espeak_wav, ffmpeg, read_wav, write_wav
from livehuman.errors import LivehumanError
from livehuman.speech.audio import (
    Audio,
    Speech,
    StreamResampler,
    from_pcm16,
    is_silent,
    load_audio,
    pcm16_bytes,
    resample,
    save_wav,
)

TEXT = "Hello there, my name is Bob. I am happy to meet you."


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """The same espeak-ng sentence as WAV (22050 Hz), stereo 44.1 kHz MP3, M4A, OGG and an MP4."""
    d = tmp_path_factory.mktemp("media")
    wav = espeak_wav(d / "speech.wav", TEXT)
    ffmpeg("-i", str(wav), "-ac", "2", "-ar", "44100", str(d / "speech.mp3"))
    ffmpeg("-i", str(wav), "-c:a", "aac", str(d / "speech.m4a"))
    ffmpeg("-i", str(wav), "-c:a", "libvorbis", str(d / "speech.ogg"))
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x64:rate=25", "-i", str(wav), "-shortest",
           "-c:v", "libx264", "-c:a", "aac", str(d / "talk.mp4"))  # fmt: skip
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x64:rate=25", "-t", "1", "-c:v", "libx264",
           str(d / "silent_video.mp4"))  # fmt: skip
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "0", str(d / "zero.wav"))
    (d / "notes.wav").write_text("these are not audio samples\n" * 20)
    (d / "empty.mp3").write_bytes(b"")
    return d


def test_wav_decodes_to_the_same_samples(media):
    raw, rate = read_wav(media / "speech.wav")
    audio = load_audio(media / "speech.wav")
    assert audio.rate == rate == 22050
    assert audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    assert np.allclose(audio.samples, raw[:, 0], atol=1e-4)
    assert audio.duration == pytest.approx(len(raw) / rate)


@pytest.mark.parametrize("name", ["speech.mp3", "speech.m4a", "speech.ogg", "talk.mp4"])
def test_compressed_and_video_files_decode_in_time_with_the_wav(media, name):
    ref = load_audio(media / "speech.wav", rate=16000)
    audio = load_audio(media / name, rate=16000)
    assert audio.rate == 16000
    # Encoders pad the end by a frame or two; the start must not move.
    assert audio.duration == pytest.approx(ref.duration, abs=0.06)
    assert best_lag(ref.samples, audio.samples, 160) == pytest.approx(0, abs=2)
    n = min(len(ref.samples), len(audio.samples))
    corr = np.corrcoef(ref.samples[:n], audio.samples[:n])[0, 1]
    assert corr > 0.9


def test_stereo_is_averaged_to_mono(tmp_path, media):
    speech, rate = read_wav(media / "speech.wav")
    left = speech[:, 0]
    right = np.sin(2 * np.pi * 300 * np.arange(len(left)) / rate).astype(np.float32) * 0.3
    path = write_wav(tmp_path / "stereo.wav", np.stack([left, right], axis=1), rate)
    audio = load_audio(path)
    assert np.allclose(audio.samples, (left + right) / 2, atol=2e-4)


def test_resample_keeps_pitch_duration_and_timing():
    rate = 48000
    t = np.arange(rate) / rate
    tone = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    tone[rate // 2 :] = 0  # a hard stop half way: its time must not move
    out = resample(Audio(tone, rate), 16000)
    assert out.rate == 16000 and len(out.samples) == 16000
    spectrum = np.abs(np.fft.rfft(out.samples[:8000]))
    assert np.fft.rfftfreq(8000, 1 / 16000)[np.argmax(spectrum)] == pytest.approx(1000, abs=3)
    last_loud = np.nonzero(np.abs(out.samples) > 0.05)[0][-1]
    assert last_loud == pytest.approx(8000, abs=4)
    # Good quality: the sine's amplitude survives and nothing aliases into the silence.
    assert np.abs(out.samples[1000:7000]).max() == pytest.approx(0.5, abs=0.02)
    assert np.abs(out.samples[8100:]).max() < 1e-3


def test_a_long_recording_is_resampled_in_pieces_that_join_unseen():
    rate = 22050
    t = np.arange(25 * rate) / rate  # pieces of 2**18 samples (11.9 s): two joins, in the middle of a sweep
    sweep = (0.5 * np.sin(2 * np.pi * (200 + 40 * t) * t)).astype(np.float32)
    whole = StreamResampler(rate, 16000)
    at_once = np.concatenate([whole.process(sweep), whole.flush()])[: 25 * 16000]
    out = resample(Audio(sweep, rate), 16000).samples
    assert len(out) == 25 * 16000
    assert np.abs(out - at_once).max() < 1e-6


@pytest.mark.parametrize(("src", "dst"), [(48000, 16000), (24000, 16000), (16000, 48000), (48000, 24000)])
def test_stream_resampler_matches_whole_file_without_clicks(media, src, dst):
    voice = load_audio(media / "speech.wav", rate=src)
    whole = resample(voice, dst).samples
    stream = StreamResampler(src, dst)
    chunk = src // 50  # 20 ms, as WebRTC delivers them
    parts = [stream.process(voice.samples[i : i + chunk]) for i in range(0, len(voice.samples), chunk)]
    streamed = np.concatenate(parts + [stream.flush()])
    n = min(len(whole), len(streamed))
    assert abs(len(streamed) - len(whole)) <= 2
    # Same signal, chunk boundaries invisible: sample-for-sample equal up to float rounding.
    assert np.abs(streamed[:n] - whole[:n]).max() < 1e-3


def test_stream_resampler_accepts_int16_and_same_rate():
    same = StreamResampler(16000, 16000)
    pcm = (np.arange(320, dtype=np.int16) - 160) * 100
    out = same.process(pcm)
    assert out.dtype == np.float32 and np.allclose(out, pcm / 32768.0)
    assert len(same.flush()) == 0


def test_pcm16_round_trip_and_clipping():
    x = np.array([0.0, 0.5, -0.5, 1.5, -1.5, 0.25], dtype=np.float32)
    data = pcm16_bytes(x)
    assert len(data) == 2 * len(x)
    back = from_pcm16(data)
    assert back.dtype == np.float32
    assert np.allclose(back, np.clip(x, -1, 1), atol=1 / 16384)
    with pytest.raises(LivehumanError, match="even number of bytes"):
        from_pcm16(b"\x00\x01\x02")


def test_save_wav_round_trip(tmp_path, media):
    audio = load_audio(media / "speech.wav", rate=16000)
    save_wav(tmp_path / "out.wav", audio)
    raw, rate = read_wav(tmp_path / "out.wav")
    assert rate == 16000 and raw.shape == (len(audio.samples), 1)
    assert np.abs(raw[:, 0] - audio.samples).max() < 1e-4


def test_speech_holds_audio_and_optional_phones(media):
    speech = Speech(audio=load_audio(media / "speech.wav"))
    assert speech.phones is None and speech.text == ""


def test_is_silent(media):
    assert not is_silent(load_audio(media / "speech.wav"))
    assert is_silent(Audio(np.zeros(16000, np.float32), 16000))
    hiss = np.random.default_rng(0).normal(0, 10 ** (-65 / 20), 16000).astype(np.float32)
    assert is_silent(Audio(hiss, 16000))
    assert not is_silent(Audio(hiss * 100, 16000))


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing.wav", "not found"),
        (".", "is a directory"),
        ("notes.wav", "cannot read"),
        ("empty.mp3", "cannot read"),
        ("silent_video.mp4", "no audio stream"),
        ("zero.wav", "zero-length"),
    ],
)
def test_bad_input_is_one_clear_line(media, name, message):
    with pytest.raises(LivehumanError, match=message) as info:
        load_audio(media / name)
    assert "\n" not in str(info.value) and str(media / name).rstrip("/.") in str(info.value)
