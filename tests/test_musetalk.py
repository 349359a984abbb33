"""The musetalk engine, with tiny random weights written in MuseTalk's own layout and a real face."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers_musetalk import drives_for, espeak_16k, loud_frames

from livehuman.avatar.avatar import Avatar
from livehuman.avatar.default import grace_hopper_path
from livehuman.avatar.photo import photo_avatar
from livehuman.errors import LivehumanError
from livehuman.motion.controls import FaceControls
from livehuman.rates import LISTEN_RATE
from livehuman.render.batch import audio_window
from livehuman.render.engine import FrameDrive
from livehuman.render.musetalk import MuseTalkEngine, find_weights
from livehuman.render.musetalk.audio import (
    AUDIO_AFTER,
    AUDIO_BEFORE,
    FIRST_FEATURE,
    WINDOW_FEATURES,
    WINDOW_SAMPLES,
    AudioStream,
    clip_windows,
    frame_window,
    positional_encoding,
    speech_weight,
)
from livehuman.render.musetalk.crop import NOSE_RIDGE, crop_box, lower_face_mask
from livehuman.render.musetalk.tiny import (
    TINY_WHISPER_LAYERS,
    TINY_WHISPER_WIDTH,
    write_tiny_models,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

N_STATES = TINY_WHISPER_LAYERS + 1
D = TINY_WHISPER_WIDTH


# -- fixtures --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine(models_dir) -> MuseTalkEngine:
    return MuseTalkEngine(models_dir, device="cpu", batch_size=4)


@pytest.fixture(scope="module")
def hopper(tmp_path_factory) -> Avatar:
    """The Grace Hopper portrait as a one-frame avatar (landmarks from mediapipe's face mesh)."""
    return photo_avatar(grace_hopper_path(), tmp_path_factory.mktemp("hopper"))


def fresh_avatar(base: Avatar, directory: Path, **changes) -> Avatar:
    fields = dict(name=base.name, directory=directory, fps=base.fps, kind=base.kind, frames=base.frames,
                  landmarks=base.landmarks, boxes=base.boxes, bbox_shift=base.bbox_shift)
    fields.update(changes)
    return Avatar(**fields)


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> np.ndarray:
    """Real speech from espeak-ng, 16 kHz mono float32."""
    return espeak_16k("Papa made a map of the moon.", tmp_path_factory.mktemp("speech"))


# -- weights: layout and errors ---------------------------------------------------------------------


def test_missing_directory_and_every_missing_file_is_named(tmp_path):
    with pytest.raises(LivehumanError, match="does not exist"):
        find_weights(tmp_path / "nowhere")
    with pytest.raises(LivehumanError) as err:
        MuseTalkEngine(tmp_path)
    message = str(err.value)
    for rel in ("musetalkV15/unet.pth", "musetalkV15/musetalk.json", "sd-vae/config.json",
                "sd-vae/diffusion_pytorch_model.bin", "whisper/config.json", "whisper/pytorch_model.bin",
                "whisper/preprocessor_config.json"):
        assert rel in message
    assert "\n" not in message


def test_one_missing_file_is_named_alone(models_dir, tmp_path):
    copy = tmp_path / "models"
    shutil.copytree(models_dir, copy)
    (copy / "whisper" / "pytorch_model.bin").unlink()
    with pytest.raises(LivehumanError) as err:
        find_weights(copy)
    message = str(err.value)
    assert "whisper/pytorch_model.bin" in message and "openai/whisper-tiny" in message
    assert "unet.pth" not in message and "sd-vae" not in message


def test_unet_weights_that_do_not_match_the_config_are_refused(models_dir, tmp_path):
    copy = tmp_path / "models"
    shutil.copytree(models_dir, copy)
    state = torch.load(copy / "musetalkV15" / "unet.pth", weights_only=True)
    state.pop(next(iter(state)))
    torch.save(state, copy / "musetalkV15" / "unet.pth")
    engine = MuseTalkEngine(copy, device="cpu")
    with pytest.raises(LivehumanError, match="missing keys"):
        engine.models


def test_v1_layout_is_found_and_face_parsing_is_optional(tmp_path):
    root = write_tiny_models(tmp_path / "v1", seed=1, version="v1", face_parse=True)
    files = find_weights(root)
    assert files.version == "v1"
    assert files.unet_weights == root / "musetalk" / "pytorch_model.bin"
    assert files.face_parse == root / "face-parse-bisent" / "79999_iter.pth"
    assert find_weights(write_tiny_models(tmp_path / "v15", seed=1)).face_parse is None


# -- tensors at every stage ------------------------------------------------------------------------


def test_loaded_networks_and_tensor_shapes(engine, hopper, speech):
    m = engine.models
    assert m.unet.config.in_channels == 8 and m.unet.config.out_channels == 4
    assert m.unet.config.cross_attention_dim == m.d_model == D
    assert m.dtype == torch.float32 and m.device.type == "cpu"
    windows = clip_windows(speech)[:3]
    assert windows.shape == (3, WINDOW_SAMPLES)

    f = engine.features
    mel = f.log_mel(windows)
    assert mel.shape == (3, 80, 3000)
    # The shortened spectrogram equals whisper's own feature extractor on the 30 s padded input.
    reference = m.feature_extractor(list(windows), sampling_rate=LISTEN_RATE, return_tensors="np").input_features
    np.testing.assert_allclose(mel.numpy(), reference, atol=1e-4)

    states = f.hidden_states(mel)
    assert states.shape == (3, 1500, N_STATES, D)
    with torch.no_grad():
        out = m.whisper(mel, output_hidden_states=True)
    assert len(out.hidden_states) == N_STATES
    for k, h in enumerate(out.hidden_states):
        torch.testing.assert_close(states[:, :, k], h)

    tokens = f(windows)
    assert tokens.shape == (3, WINDOW_FEATURES * N_STATES, D) == (3, *f.token_shape)
    raw = states[:, FIRST_FEATURE : FIRST_FEATURE + WINDOW_FEATURES].reshape(3, -1, D)
    torch.testing.assert_close(tokens - raw, positional_encoding(WINDOW_FEATURES * N_STATES, D).expand(3, -1, -1))

    engine.load(hopper)
    prepared = hopper.extra["musetalk"]
    assert tuple(prepared.latents.shape) == (1, 8, 32, 32)
    pred = engine.unet_step(prepared.latents[[0, 0, 0]], tokens)
    assert pred.shape == (3, 4, 32, 32)
    faces = engine.decode(pred)
    assert faces.shape == (3, 256, 256, 3) and faces.dtype == torch.uint8


def test_positional_encoding_is_musetalks_sinusoid():
    pe = positional_encoding(50, 384)
    assert pe.shape == (50, 384)
    assert torch.allclose(pe[0, 0::2], torch.zeros(192)) and torch.allclose(pe[0, 1::2], torch.ones(192))
    pos, i = 7, 5  # channel 2i is sin(pos / 10000^(2i/d)), channel 2i+1 its cosine
    angle = pos / 10000 ** (2 * i / 384)
    assert pe[pos, 2 * i].item() == pytest.approx(np.sin(angle), abs=1e-6)
    assert pe[pos, 2 * i + 1].item() == pytest.approx(np.cos(angle), abs=1e-6)


# -- the audio window ------------------------------------------------------------------------------


def test_audio_window_for_first_middle_and_last_frames(speech):
    windows = clip_windows(speech)
    n = len(windows)
    assert n == int(np.ceil(len(speech) / LISTEN_RATE * 25))
    before = round(AUDIO_BEFORE * LISTEN_RATE)
    # First frame: its centre is 20 ms in, so the window starts with 480 ms of zero padding.
    lead = before - 320
    assert not windows[0][:lead].any()
    np.testing.assert_array_equal(windows[0][lead:], speech[: WINDOW_SAMPLES - lead])
    # A middle frame: exactly the speech from 0.5 s before its centre to 0.12 s after.
    i = n // 2
    centre = (2 * i + 1) * 320
    np.testing.assert_array_equal(windows[i], speech[centre - before : centre - before + WINDOW_SAMPLES])
    # Last frame: the speech runs out and the rest is zeros.
    centre = (2 * (n - 1) + 1) * 320
    tail = len(speech) - (centre - before)
    np.testing.assert_array_equal(windows[-1][:tail], speech[centre - before :])
    assert not windows[-1][tail:].any()
    assert AUDIO_AFTER * LISTEN_RATE == WINDOW_SAMPLES - before


def test_feature_frames_are_musetalks_two_frames_before_to_two_after(engine):
    """The 10 feature frames of a window are centred from 100 ms before the frame's centre (80 ms
    before its start, MuseTalk's 2 video frames of left context) to 80 ms after; checked on the
    encoder's convolutional stage, which sees only nearby audio."""
    f = engine.features
    before = round(AUDIO_BEFORE * LISTEN_RATE)
    silent = np.zeros((1, WINDOW_SAMPLES), np.float32)
    base = f.hidden_states(f.log_mel(silent + 1e-3))[0, :, 0]
    for k in (0, WINDOW_FEATURES - 1):
        t = before - 1600 + 320 * k  # the k-th feature frame's centre, in samples of the window
        click = silent + 1e-3
        click[0, t - 40 : t + 40] += 0.5
        diff = (f.hidden_states(f.log_mel(click))[0, :, 0] - base).abs().sum(-1)
        assert int(diff.argmax()) == FIRST_FEATURE + k
    # Audio beyond the look-ahead cannot reach the frame's last feature frame at all.
    last_centre = before - 1600 + 320 * (WINDOW_FEATURES - 1)
    assert last_centre + 2 * 160 + 200 <= WINDOW_SAMPLES  # 2 mel hops of convolution + half an FFT window


def test_stream_gives_the_batch_windows_once_the_lookahead_has_arrived(speech):
    batch = clip_windows(speech)
    stream = AudioStream()
    got: list[tuple[int, np.ndarray]] = []
    rng = np.random.default_rng(3)
    pos = 0
    while pos < len(speech):
        step = int(rng.integers(1, 2500))
        ready = stream.push(speech[pos : pos + step])
        pos = min(pos + step, len(speech))
        for index, _ in ready:  # ready exactly when the audio to centre + look-ahead is in
            assert (index + 0.5) / 25 + AUDIO_AFTER <= pos / LISTEN_RATE + 1e-9
        nxt = stream.next_frame
        assert (nxt + 0.5) / 25 + AUDIO_AFTER > pos / LISTEN_RATE - 1 / LISTEN_RATE
        got += ready
    got += stream.finish()
    assert [i for i, _ in got] == list(range(len(batch)))
    for (_, w), ref in zip(got, batch):
        np.testing.assert_array_equal(w, ref)
    assert stream.lookahead == AUDIO_AFTER
    assert frame_window(speech, 3).shape == (WINDOW_SAMPLES,)


def test_windows_match_the_batch_renderers_frame_drives(speech, engine):
    """The batch renderer cuts each FrameDrive's audio by the engine's audio_context; the engine's
    own windows must be the same samples."""
    for k in (0, 5, len(clip_windows(speech)) - 1):
        drive_audio = audio_window(speech, (k + 0.5) / 25, engine.audio_context)
        np.testing.assert_array_equal(drive_audio, frame_window(speech, k))


# -- crop and mask ---------------------------------------------------------------------------------


def test_crop_box_mirrors_the_top_around_the_nose(hopper):
    pts = hopper.landmarks[0]
    size = hopper.size
    nose, chin = pts[NOSE_RIDGE, 1], pts[:, 1].max()
    v1 = crop_box(pts, size, "v1")
    assert abs((v1[1] + v1[3]) / 2 - nose) <= 1 and abs(v1[3] - chin) <= 1
    assert v1[0] == round(pts[:, 0].min()) and v1[2] == round(pts[:, 0].max())
    shifted = crop_box(pts, size, "v1", bbox_shift=8)
    assert abs((shifted[1] + shifted[3]) / 2 - (nose + 8)) <= 1
    v15 = crop_box(pts, size, "v15", bbox_shift=8)  # v1.5 ignores bbox_shift, adds the margin
    assert v15[3] == v1[3] + 10 and abs(v15[1] - v1[1]) <= 1
    # The mouth lies in the lower (regenerated) half.
    mouth_y = pts[[13, 14], 1].mean()
    assert (v15[1] + v15[3]) / 2 < mouth_y < v15[3]


def test_lower_face_mask_is_soft_and_below_the_nose(hopper):
    pts = hopper.landmarks[0]
    box = crop_box(pts, hopper.size, "v15")
    mask = lower_face_mask(pts, box)
    h, w = box[3] - box[1], box[2] - box[0]
    assert mask.shape == (h, w) and mask.dtype == np.float32
    assert not mask[: h // 2].any()
    assert not mask[:, 0].any() and not mask[:, -1].any() and not mask[-1].any()
    mouth = pts[[13, 14]].mean(0) - box[:2]
    assert mask[int(mouth[1]), int(mouth[0])] > 0.99
    values = mask[(mask > 0) & (mask < 1)]
    assert values.size > 0.05 * (mask > 0).sum()  # a feathered edge, not a hard cut-out


# -- rendering -------------------------------------------------------------------------------------


def test_only_the_lower_face_changes(engine, hopper, speech):
    engine.load(hopper)
    prepared = hopper.extra["musetalk"]
    x0, y0, x1, y1 = prepared.boxes[0]
    mask = prepared.masks[0]
    source = hopper.frames[0]
    indices = loud_frames(speech, 3)
    frames = engine.render_batch(hopper, indices, drives_for(clip_windows(speech)[indices]))
    for frame in frames:
        assert frame.shape == source.shape and frame.dtype == np.uint8
        changed = (frame != source).any(-1)
        assert changed.sum() > 0.2 * (mask > 127).sum()  # the mouth region really was regenerated
        assert not changed[: (y0 + y1) // 2].any()  # nothing above the masked half
        assert not changed[:, :x0].any() and not changed[:, x1:].any() and not changed[y1:].any()
        inside = np.zeros_like(changed)
        inside[y0:y1, x0:x1] = mask > 0
        assert not changed[~inside].any()
    assert not np.array_equal(frames[0], frames[-1])  # different audio, different mouths


def test_silence_keeps_the_avatars_own_mouth(engine, hopper, speech):
    source = hopper.frames[0]
    silent = engine.render(hopper, 0, FrameDrive(FaceControls(), np.zeros(WINDOW_SAMPLES, np.float32)))
    np.testing.assert_array_equal(silent, source)
    np.testing.assert_array_equal(engine.render(hopper, 0, FrameDrive(FaceControls(), None)), source)
    # Quiet audio between the silence and speech levels moves the mouth only part of the way.
    i = loud_frames(speech, 1)[0]
    loud_window = clip_windows(speech)[i]
    peak = float(np.sqrt(np.mean(loud_window[7040:8960] ** 2)))
    quiet_window = loud_window * (10 ** (-45 / 20) / peak)
    weight = float(speech_weight(quiet_window[None])[0])
    assert 0.2 < weight < 0.8
    loud, quiet = engine.render_batch(hopper, [0, 0], drives_for(np.stack([loud_window, quiet_window])))
    assert 0 < np.abs(quiet.astype(int) - source).sum() < np.abs(loud.astype(int) - source).sum()


def test_batch_and_streaming_paths_give_the_same_frames(engine, hopper, speech):
    n = 7
    batch = engine.render_batch(hopper, list(range(n)), drives_for(clip_windows(speech)[:n]))
    stream = AudioStream()
    streamed: list[np.ndarray] = []
    for pos in range(0, len(speech), 640):  # 40 ms chunks, as a live source sends them
        for index, window in stream.push(speech[pos : pos + 640]):
            if index < n:
                streamed.append(engine.render(hopper, index, FrameDrive(FaceControls(), window)))
        if len(streamed) == n:
            break
    assert len(streamed) == n
    diffs = [int(np.abs(a.astype(int) - b).max()) for a, b in zip(batch, streamed)]
    print("largest difference between batch and streamed frames:", diffs)
    assert max(diffs) <= 1  # float sums may differ with the batch's composition


def test_output_is_deterministic_for_a_fixed_seed(engine, hopper, speech, tmp_path):
    indices = loud_frames(speech, 2)
    drives = drives_for(clip_windows(speech)[indices])
    avatar = fresh_avatar(hopper, tmp_path / "avatar")
    first = engine.render_batch(avatar, indices, drives)  # the module's weights: seed 0
    again = MuseTalkEngine(write_tiny_models(tmp_path / "again", seed=0), device="cpu")
    for a, b in zip(first, again.render_batch(fresh_avatar(hopper, tmp_path / "avatar2"), indices, drives)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(engine.render_batch(avatar, indices, drives)[1], first[1])
    # Other weights give other frames, and their VAE does not reuse this avatar's cached latents.
    other = MuseTalkEngine(write_tiny_models(tmp_path / "other", seed=1), device="cpu")
    latents = avatar.extra["musetalk"].latents
    assert not np.array_equal(other.render_batch(avatar, indices, drives)[0], first[0])
    assert not torch.allclose(avatar.extra["musetalk"].latents, latents)


def test_reference_latents_are_cached_and_render_reads_no_files(engine, hopper, speech, tmp_path):
    avatar = fresh_avatar(hopper, tmp_path / "avatar")
    engine.load(avatar)
    cache = tmp_path / "avatar" / "musetalk"
    assert (cache / "latents.npz").is_file() and (cache / "meta.json").is_file()
    latents = avatar.extra["musetalk"].latents.clone()

    # A second load of the same avatar reads the cache (a tampered cache shows it is used) ...
    with np.load(cache / "latents.npz") as data:
        stored = data["latents"]
    np.testing.assert_allclose(stored, latents.numpy())
    np.savez(cache / "latents.npz", latents=stored * 0.5)
    again = fresh_avatar(hopper, tmp_path / "avatar")
    engine.load(again)
    torch.testing.assert_close(again.extra["musetalk"].latents, latents * 0.5)
    # ... and a changed face box (another bbox_shift under v1, another frame) invalidates it.
    moved = fresh_avatar(hopper, tmp_path / "avatar", frames=np.ascontiguousarray(hopper.frames[:, :, ::-1]))
    engine.load(moved)
    assert not torch.allclose(moved.extra["musetalk"].latents, latents * 0.5)

    # Rendering needs nothing from disk.
    shutil.rmtree(tmp_path / "avatar")
    i = loud_frames(speech, 1)
    frame = engine.render(again, i[0], drives_for(clip_windows(speech)[i])[0])
    assert frame.shape == hopper.frames[0].shape


def test_video_avatar_plays_its_frames_forward_then_back(engine, hopper, speech, tmp_path):
    frames = np.stack([hopper.frames[0], np.roll(hopper.frames[0], 4, axis=1), np.roll(hopper.frames[0], 8, axis=1)])
    landmarks = np.stack([hopper.landmarks[0] + [4 * k, 0] for k in range(3)]).astype(np.float32)
    video = fresh_avatar(hopper, tmp_path / "video", kind="video", frames=frames, landmarks=landmarks,
                         boxes=np.repeat(hopper.boxes, 3, 0))
    silent = FrameDrive(FaceControls(), np.zeros(WINDOW_SAMPLES, np.float32))
    out = engine.render_batch(video, [0, 1, 2, 3, 4], [silent] * 5)
    for k, source in zip(range(5), (0, 1, 2, 1, 0)):
        np.testing.assert_array_equal(out[k], frames[source])
    assert video.extra["musetalk"].latents.shape[0] == 3


def test_bad_input_is_a_livehuman_error(engine, hopper, models_dir):
    with pytest.raises(LivehumanError):
        engine.render_batch(hopper, [0, 1], [FrameDrive(FaceControls(), None)])
    with pytest.raises(LivehumanError, match="batch size"):
        MuseTalkEngine(models_dir, batch_size=0)
    with pytest.raises(LivehumanError, match="version"):
        find_weights(models_dir, version="v3")
    with pytest.raises(LivehumanError, match="dtype"):
        MuseTalkEngine(models_dir, dtype="float8")
    if not torch.cuda.is_available():
        with pytest.raises(LivehumanError, match="CUDA"):
            MuseTalkEngine(models_dir, device="cuda")
