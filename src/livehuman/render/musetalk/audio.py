"""Whisper audio features for MuseTalk, per video frame, from a window of audio around the frame.

MuseTalk conditions frame i (25 fps) on 10 whisper-encoder frames (50 Hz): 2 video frames before it,
the frame itself and 2 after, i.e. the feature frames centred from 80 ms before the frame's start
to 100 ms after it, each with all encoder hidden states (embeddings + every layer) stacked and then
flattened to [10 x n_states, d_model] ([50, 384] for whisper-tiny), plus a sinusoidal positional
encoding. MuseTalk encodes a whole clip in 30 s segments and pads with zero *features* at the
clip's start; a live stream has no clip, so here every frame is encoded from its own fixed window of
audio (AUDIO_BEFORE s before the frame's centre to AUDIO_AFTER s after, zero audio outside the
speech, padded to 30 s as whisper pads any short clip). A frame's features therefore depend on that
window only: the batch path and the streaming path give the same features, and the streaming
look-ahead is AUDIO_AFTER (0.12 s: the last feature frame's convolutions reach 112.5 ms past the
frame's centre).
"""

from __future__ import annotations

import math

import numpy as np

from livehuman.errors import LivehumanError
from livehuman.rates import FPS, LISTEN_RATE

MUSETALK_FPS = 25  # the video rate MuseTalk was trained at: 2 whisper frames per video frame
FEATURE_HZ = 50  # whisper encoder frames per second
FRAMES_BEFORE = 2  # video frames of audio context before the frame (MuseTalk's audio_padding_length_left)
FRAMES_AFTER = 2  # and after (audio_padding_length_right)
WINDOW_FEATURES = 2 * (FRAMES_BEFORE + 1 + FRAMES_AFTER)  # 10 feature frames per video frame
AUDIO_BEFORE = 0.5  # seconds of audio before a frame's centre given to the encoder
AUDIO_AFTER = 0.12  # seconds after: the streaming look-ahead
WINDOW_SAMPLES = round((AUDIO_BEFORE + AUDIO_AFTER) * LISTEN_RATE)
# The first of the 10 feature frames is centred 100 ms before the frame's centre (80 ms before its
# start), as in MuseTalk; feature j of a window is centred j * 20 ms after the window's start.
FIRST_FEATURE = round((AUDIO_BEFORE - (FRAMES_BEFORE + 0.5) / MUSETALK_FPS) * FEATURE_HZ)
WHISPER_SAMPLES = 30 * LISTEN_RATE  # whisper's fixed input length
SILENCE_DB = -50.0  # a frame whose central 120 ms is below this is silent (mouth closed) ...
SPEECH_DB = -40.0  # ... and above this fully driven by the audio; in between, a blend
_LEVEL_HALF_WIDTH = 0.06  # seconds either side of the centre measured for silence


def n_frames_for(n_samples: int, fps: float = FPS) -> int:
    """How many video frames a clip of `n_samples` at 16 kHz lasts (the last partial one counts)."""
    return int(math.ceil(n_samples * fps / LISTEN_RATE - 1e-9))


def frame_window(audio: np.ndarray, index: int, fps: float = FPS, start: int = 0) -> np.ndarray:
    """Frame `index`'s audio window, zero-padded outside `audio` (which begins at sample `start`)."""
    centre = round((index + 0.5) / fps * LISTEN_RATE)
    lo = centre - round(AUDIO_BEFORE * LISTEN_RATE) - start
    out = np.zeros(WINDOW_SAMPLES, np.float32)
    a, b = max(lo, 0), min(lo + WINDOW_SAMPLES, len(audio))
    if b > a:
        out[a - lo : b - lo] = audio[a:b]
    return out


def clip_windows(audio: np.ndarray, fps: float = FPS) -> np.ndarray:
    """Every frame's window of a whole clip: the batch path. (n_frames, WINDOW_SAMPLES) float32."""
    audio = np.asarray(audio, np.float32)
    return np.stack([frame_window(audio, i, fps) for i in range(n_frames_for(len(audio), fps))])


def fit_window(audio: np.ndarray | None) -> np.ndarray:
    """A FrameDrive's audio as exactly WINDOW_SAMPLES (silence when absent; cut or padded at the end)."""
    out = np.zeros(WINDOW_SAMPLES, np.float32)
    if audio is not None:
        audio = np.asarray(audio, np.float32).reshape(-1)
        n = min(len(audio), WINDOW_SAMPLES)
        out[:n] = audio[:n]
    return out


def speech_weight(windows: np.ndarray) -> np.ndarray:
    """Per window, 0 when the audio around the frame's centre is silent, 1 when it is speech."""
    centre = round(AUDIO_BEFORE * LISTEN_RATE)
    half = round(_LEVEL_HALF_WIDTH * LISTEN_RATE)
    part = np.asarray(windows, np.float64)[..., centre - half : centre + half]
    rms = np.sqrt(np.mean(part**2, axis=-1))
    db = 20 * np.log10(np.maximum(rms, 1e-10))
    return np.clip((db - SILENCE_DB) / (SPEECH_DB - SILENCE_DB), 0.0, 1.0).astype(np.float32)


class AudioStream:
    """Sliding-window feeder for live audio: push chunks, get each frame's window once its look-ahead
    has arrived. The windows equal `clip_windows` of the concatenated audio, frame for frame."""

    def __init__(self, fps: float = FPS):
        self.fps = fps
        self._buffer = np.zeros(0, np.float32)
        self._buffer_start = 0  # sample index of _buffer[0] in the whole stream
        self._received = 0
        self.next_frame = 0

    @property
    def lookahead(self) -> float:
        """Seconds of audio past a frame's centre needed before the frame can be rendered."""
        return AUDIO_AFTER

    def push(self, chunk: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """Add audio; return (frame index, window) for every frame that became ready."""
        chunk = np.asarray(chunk, np.float32).reshape(-1)
        self._buffer = np.concatenate([self._buffer, chunk])
        self._received += len(chunk)
        return self._ready(final=False)

    def finish(self) -> list[tuple[int, np.ndarray]]:
        """The end of the speech: return the remaining frames (zero-padded past the end)."""
        return self._ready(final=True)

    def _ready(self, final: bool) -> list[tuple[int, np.ndarray]]:
        out = []
        last = n_frames_for(self._received, self.fps)
        while self.next_frame < last:
            centre = round((self.next_frame + 0.5) / self.fps * LISTEN_RATE)
            if not final and centre + WINDOW_SAMPLES - round(AUDIO_BEFORE * LISTEN_RATE) > self._received:
                break
            out.append((self.next_frame, frame_window(self._buffer, self.next_frame, self.fps, self._buffer_start)))
            self.next_frame += 1
        # Keep only what later windows can still reach.
        centre = round((self.next_frame + 0.5) / self.fps * LISTEN_RATE)
        keep_from = max(centre - round(AUDIO_BEFORE * LISTEN_RATE), self._buffer_start)
        drop = min(keep_from - self._buffer_start, len(self._buffer))
        if drop > 0:
            self._buffer = self._buffer[drop:]
            self._buffer_start += drop
        return out


def positional_encoding(length: int, d_model: int):
    """The sinusoidal encoding MuseTalk adds to the audio tokens: sin on even, cos on odd channels."""
    import torch

    position = torch.arange(length, dtype=torch.float32).unsqueeze(1)
    div = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
    pe = torch.zeros(length, d_model)
    pe[:, 0::2] = torch.sin(position * div)
    pe[:, 1::2] = torch.cos(position * div)
    return pe


class WhisperFeatures:
    """Frame windows of audio -> MuseTalk's audio tokens, with whisper's encoder on the models' device."""

    def __init__(self, encoder, feature_extractor, device, dtype):
        import torch

        self.encoder = encoder
        self.device = device
        self.dtype = dtype
        fe = feature_extractor
        if fe.sampling_rate != LISTEN_RATE:
            raise LivehumanError(f"whisper's feature extractor expects {fe.sampling_rate} Hz audio, not {LISTEN_RATE}")
        self.n_fft = fe.n_fft
        self.hop = fe.hop_length
        self.n_samples = fe.n_samples
        self.mel_filters = torch.from_numpy(np.asarray(fe.mel_filters, np.float32)).to(device)
        self.window = torch.hann_window(self.n_fft, device=device)
        self.d_model = int(encoder.config.d_model)
        self.n_states = int(encoder.config.encoder_layers) + 1
        self.pe = positional_encoding(WINDOW_FEATURES * self.n_states, self.d_model).to(device, dtype)

    @property
    def token_shape(self) -> tuple[int, int]:
        """(WINDOW_FEATURES x hidden states, d_model): (50, 384) for whisper-tiny."""
        return WINDOW_FEATURES * self.n_states, self.d_model

    def log_mel(self, windows: np.ndarray):
        """Whisper's log-mel of each window padded with zeros to 30 s: (n, 80, 3000), on the device."""
        import torch

        n_frames = self.n_samples // self.hop
        # Only the first few hundred STFT frames see any audio; the rest of the 30 s is zeros, whose
        # log power is exactly log10(1e-10). Computing the short part and filling the rest gives the
        # same spectrogram 50 times faster (the trailing zeros make the edge padding match too).
        length = min(self.n_samples, -(-(windows.shape[1] + self.n_fft) // self.hop) * self.hop)
        x = torch.zeros(len(windows), length, device=self.device)
        x[:, : windows.shape[1]] = torch.from_numpy(np.ascontiguousarray(windows, np.float32)).to(self.device)
        stft = torch.stft(x, self.n_fft, self.hop, window=self.window, return_complex=True)
        power = stft[..., : min(stft.shape[-1], n_frames)].abs() ** 2
        mel = self.mel_filters.T @ power
        log_spec = torch.full((len(windows), mel.shape[1], n_frames), -10.0, device=self.device)
        log_spec[..., : mel.shape[-1]] = torch.clamp(mel, min=1e-10).log10()
        peak = log_spec.amax(dim=(1, 2), keepdim=True)
        log_spec = torch.maximum(log_spec, peak - 8.0)
        return (log_spec + 4.0) / 4.0

    def hidden_states(self, mel):
        """All encoder hidden states stacked: (n, 1500, n_states, d_model), as MuseTalk stacks them.

        The states are the embeddings, each layer's output, and the last one after the final layer
        norm (transformers' `output_hidden_states`), computed here so no library version changes them.
        """
        import torch
        import torch.nn.functional as F

        enc = self.encoder
        h = F.gelu(enc.conv1(mel.to(self.dtype)))
        h = F.gelu(enc.conv2(h)).permute(0, 2, 1)
        h = h + enc.embed_positions.weight[: h.shape[1]]
        states = [h]
        for i, layer in enumerate(enc.layers):
            out = layer(h, None)
            h = out[0] if isinstance(out, tuple) else out
            states.append(enc.layer_norm(h) if i == len(enc.layers) - 1 else h)
        return torch.stack(states, dim=2)

    def window_tokens(self, states):
        """The 10 feature frames of each window, flattened to (n, 10 x n_states, d_model)."""
        clip = states[:, FIRST_FEATURE : FIRST_FEATURE + WINDOW_FEATURES]
        return clip.reshape(clip.shape[0], -1, clip.shape[-1])

    def __call__(self, windows: np.ndarray):
        """(n, WINDOW_SAMPLES) audio -> (n, 10 x n_states, d_model) UNet conditioning, encoding added."""
        import torch

        with torch.inference_mode():
            tokens = self.window_tokens(self.hidden_states(self.log_mel(np.asarray(windows, np.float32))))
            return tokens + self.pe
