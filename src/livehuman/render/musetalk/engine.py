"""The `musetalk` render engine: MuseTalk's single-step latent inpainting of the lower face."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from livehuman.avatar.avatar import Avatar
from livehuman.errors import LivehumanError
from livehuman.render.engine import FrameDrive
from livehuman.render.musetalk.audio import (
    AUDIO_AFTER,
    AUDIO_BEFORE,
    WINDOW_SAMPLES,
    WhisperFeatures,
    fit_window,
    speech_weight,
)
from livehuman.render.musetalk.compiling import (
    Compiled,
    backend_name,
    bucket,
    check_backend,
    missing_toolchain,
)
from livehuman.render.musetalk.crop import (
    CROP_SIZE,
    EXTRA_MARGIN,
    crop_box,
    crop_face,
    lower_face_mask,
)
from livehuman.render.musetalk.face_motion import FaceMotion
from livehuman.render.musetalk.scheduler import BatchScheduler
from livehuman.render.musetalk.weights import (
    MuseTalkModels,
    find_weights,
    load_models,
    require_libraries,
    resolve_device,
)

CACHE_LATENTS = "latents.npz"
CACHE_META = "meta.json"
CACHE_FORMAT = 1

log = logging.getLogger(__name__)


@dataclass
class PreparedAvatar:
    """What rendering one avatar needs, kept in memory: per source frame its box, mask and latents."""

    boxes: np.ndarray  # (n, 4) int64 crop boxes x0, y0, x1, y1
    masks: list[np.ndarray]  # per frame, (box height, box width) uint8 blending mask (255 = generated)
    latents: object  # torch tensor (n, 8, 32, 32) on the device: masked-crop latents | reference latents
    key: tuple = ()  # which weights, version and margin these were made with
    motion: FaceMotion | None = None  # the eyes' and head's rigs, built per source frame on first use


@dataclass
class FaceRequest:
    """One frame's device work: its avatar frame's latents (8 x 32 x 32, on the device) and its audio."""

    latents: object
    window: np.ndarray  # WINDOW_SAMPLES of 16 kHz audio


class MuseTalkEngine:
    """Lip sync with MuseTalk's UNet and the user's weights; each frame is driven by its audio window.

    One loaded engine may be shared by every live session: `render` and `render_batch` are safe to
    call from several threads at once, and the frames that need the networks at the same moment go
    through them as one batch (see `scheduler`). The engine keeps no state between calls but each
    avatar's prepared data, so sessions cannot see each other's audio.
    """

    name = "musetalk"
    audio_context = (AUDIO_BEFORE, AUDIO_AFTER)

    def __init__(self, models_dir: str | Path, device: str = "auto", dtype=None, batch_size: int = 8,
                 compile: bool | str = False, version: str | None = None, extra_margin: int = EXTRA_MARGIN,
                 head_motion: bool = True, batch_wait: float = 0.0):
        require_libraries()
        self.files = find_weights(models_dir, version)  # fails early, listing every missing file
        self.vae_fingerprint = self.files.fingerprint()
        if batch_size < 1:
            raise LivehumanError(f"batch size must be at least 1, not {batch_size}")
        if batch_wait < 0:
            raise LivehumanError(f"batch wait must be 0 or more seconds, not {batch_wait}")
        self.device, self.dtype = resolve_device(device, dtype)  # a bad device fails here, not mid-render
        self.batch_size = batch_size
        self.compile = check_backend(compile) or False
        self.extra_margin = extra_margin
        self.head_motion = head_motion
        self._compile_note = ""  # why torch.compile is not used, when it was asked for and is not
        self._models: MuseTalkModels | None = None
        self._features: WhisperFeatures | None = None
        self._unet = None
        self._decode = None
        self._load_lock = threading.RLock()  # loading the networks, preparing an avatar
        self._device_lock = threading.Lock()  # one batch at a time on the networks
        self.scheduler: BatchScheduler[FaceRequest, np.ndarray] = BatchScheduler(
            self._run_batch, lambda: self.batch_size, batch_wait)

    @property
    def version(self) -> str:
        return self.files.version

    @property
    def models(self) -> MuseTalkModels:
        """The networks, loaded on first use (once, whichever thread asks first)."""
        if self._models is None:
            with self._load_lock:
                if self._models is None:
                    m = load_models(self.files.root, self.device, self.dtype, self.files.version)
                    self._features = WhisperFeatures(m.whisper, m.feature_extractor, m.device, m.dtype)
                    self._unet, self._decode = self._compiled(m)
                    self._models = m
        return self._models

    def _compiled(self, m: MuseTalkModels):
        """The UNet and the VAE decoder, compiled when asked and possible (else eager, and why)."""
        backend = backend_name(self.compile)
        decode = lambda z: m.vae.decode(z).sample
        if backend is None:
            return m.unet, decode
        problem = missing_toolchain(backend, m.device.type)
        if problem:
            self._compile_note = f"{problem}; running eagerly"
            log.warning("musetalk: %s", self._compile_note)
            return m.unet, decode
        return Compiled(m.unet, backend, "UNet"), Compiled(decode, backend, "VAE decoder")

    @property
    def compiled(self) -> str | None:
        """The torch.compile backend in use, or None when the networks run eagerly."""
        _ = self.models
        return self._unet.backend if isinstance(self._unet, Compiled) else None

    @property
    def compile_note(self) -> str:
        """Why torch.compile is not in use although it was asked for ("" when it is, or was not asked)."""
        notes = [self._compile_note] + [f.note for f in (self._unet, self._decode) if isinstance(f, Compiled)]
        return "; ".join(n for n in notes if n)

    @property
    def features(self) -> WhisperFeatures:
        """Audio windows -> UNet conditioning, on the models' device."""
        if self._features is None:
            _ = self.models
        return self._features

    @property
    def batch_sizes(self) -> dict[int, int]:
        """How many batches of each size the networks have run (size -> count)."""
        return self.scheduler.batch_sizes

    # -- preparation ---------------------------------------------------------------------------

    def load(self, avatar: Avatar) -> None:
        """Boxes and masks from the landmarks; VAE latents from the avatar's cache (made once)."""
        self._prepared(avatar)

    def _prepared(self, avatar: Avatar) -> PreparedAvatar:
        m = self.models
        key = (self.vae_fingerprint, self.version, self.extra_margin, avatar.bbox_shift, str(m.device), m.dtype)
        prepared = avatar.extra.get(self.name)
        if isinstance(prepared, PreparedAvatar) and prepared.key == key:
            return prepared
        with self._load_lock:  # sessions starting together prepare a shared avatar once
            prepared = avatar.extra.get(self.name)
            if isinstance(prepared, PreparedAvatar) and prepared.key == key:
                return prepared
            prepared = self._prepare(avatar, key)
            avatar.extra[self.name] = prepared
            return prepared

    def _prepare(self, avatar: Avatar, key: tuple) -> PreparedAvatar:
        import torch

        m = self.models
        size = avatar.size
        boxes = np.stack([
            crop_box(avatar.landmarks[i], size, self.version, avatar.bbox_shift, self.extra_margin)
            for i in range(avatar.n_frames)
        ])
        # uint8 keeps a long video's masks small; 0 stays exactly 0, so the rest of the face is untouched.
        masks = [np.rint(lower_face_mask(avatar.landmarks[i], boxes[i]) * 255).astype(np.uint8)
                 for i in range(avatar.n_frames)]
        latents = self._cached_latents(avatar, boxes)
        return PreparedAvatar(boxes, masks, torch.from_numpy(latents).to(m.device, m.dtype), key,
                              FaceMotion(self.head_motion))

    def _cache_meta(self, avatar: Avatar, boxes: np.ndarray) -> dict:
        return {
            "format": CACHE_FORMAT,
            "version": self.version,
            "vae": self.vae_fingerprint,
            "boxes": hashlib.sha1(np.ascontiguousarray(boxes).tobytes()).hexdigest()[:16],
            "frames": hashlib.sha1(np.ascontiguousarray(avatar.frames[:, ::16, ::16]).tobytes()).hexdigest()[:16],
            "n_frames": avatar.n_frames,
        }

    def _cached_latents(self, avatar: Avatar, boxes: np.ndarray) -> np.ndarray:
        directory = avatar.engine_dir(self.name)
        meta = self._cache_meta(avatar, boxes)
        meta_path, latents_path = directory / CACHE_META, directory / CACHE_LATENTS
        try:
            if json.loads(meta_path.read_text()) == meta:
                with np.load(latents_path) as data:
                    latents = data["latents"]
                if latents.shape[0] == avatar.n_frames:
                    return latents
        except (OSError, ValueError, KeyError):
            pass  # absent or stale: prepare again
        parts = []
        for a in range(0, avatar.n_frames, self.batch_size):
            ids = range(a, min(a + self.batch_size, avatar.n_frames))
            parts.append(self.encode_crops(np.stack([crop_face(avatar.frames[i], boxes[i]) for i in ids])))
        latents = np.concatenate(parts).astype(np.float32)
        # Written beside and renamed into place: a reader never sees half a file.
        partial = directory / ("partial-" + CACHE_LATENTS)
        np.savez(partial, latents=latents)
        partial.replace(latents_path)
        meta_path.write_text(json.dumps(meta, indent=1))
        return latents

    def encode_crops(self, crops: np.ndarray) -> np.ndarray:
        """256 x 256 BGR crops -> (n, 8, 32, 32): the latent with the lower half masked, then the
        reference latent, both scaled by the VAE's factor (MuseTalk's `get_latents_for_unet`)."""
        import torch

        m = self.models
        with self._device_lock, torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(crops[..., ::-1])).to(m.device)
            x = x.permute(0, 3, 1, 2).to(m.dtype) / 255.0
            masked = x.clone()
            masked[:, :, CROP_SIZE // 2 :, :] = 0.0  # masked before normalising: the lower half is black
            both = torch.cat([masked, x]) * 2.0 - 1.0
            # The distribution's mode, not a sample: the same avatar always gets the same latents.
            lat = m.vae.encode(both).latent_dist.mode() * m.scaling_factor
            n = len(crops)
            return torch.cat([lat[:n], lat[n:]], dim=1).float().cpu().numpy()

    # -- the networks --------------------------------------------------------------------------

    def unet_step(self, latents, tokens):
        """One UNet pass at timestep 0: (n, 8, 32, 32) latents + (n, 50, 384) audio -> (n, 4, 32, 32)."""
        import torch

        m = self.models
        with torch.inference_mode():
            t = torch.zeros(len(latents), dtype=torch.long, device=m.device)
            return self._unet(latents, t, encoder_hidden_states=tokens.to(m.dtype)).sample

    def decode(self, latents):
        """(n, 4, 32, 32) latents -> (n, 256, 256, 3) BGR uint8 tensor, still on the device."""
        import torch

        m = self.models
        with torch.inference_mode():
            image = self._decode(latents / m.scaling_factor)
            image = ((image.float() / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)
            return image.permute(0, 2, 3, 1).flip(-1)

    def faces(self, latents, windows: np.ndarray) -> np.ndarray:
        """Audio features, UNet and VAE decode for a batch: (n, 256, 256, 3) BGR uint8 faces."""
        import torch

        tokens = self.features(windows)
        n = len(windows)
        if isinstance(self._unet, Compiled) and self._unet.backend is not None and bucket(n) > n:
            # Padded to a compiled size (repeating the last frame) rather than compiling another.
            pad = bucket(n) - n
            latents = torch.cat([latents, latents[-1:].expand(pad, -1, -1, -1)])
            tokens = torch.cat([tokens, tokens[-1:].expand(pad, -1, -1)])
        return self.decode(self.unet_step(latents, tokens))[:n].cpu().numpy()

    def _run_batch(self, requests: list[FaceRequest]) -> list[np.ndarray]:
        """The scheduler's batch: every request's face, from one pass through the networks."""
        import torch

        latents = torch.stack([r.latents for r in requests])
        windows = np.stack([r.window for r in requests])
        with self._device_lock:
            return list(self.faces(latents, windows))

    def warm_up(self, batch_sizes=None) -> None:
        """Run each batch size once (compiled sizes by default, up to `batch_size`) so that the first
        live frame does not pay for compiling or for the device's first-call set-up."""
        import torch

        m = self.models
        sizes = batch_sizes or sorted({bucket(n) for n in range(1, self.batch_size + 1)})
        window = np.zeros(WINDOW_SAMPLES, np.float32)
        for n in sizes:
            latents = torch.zeros((n, 8, 32, 32), dtype=m.dtype, device=m.device)
            with self._device_lock:
                self.faces(latents, np.stack([window] * n))

    def generate(self, prepared: PreparedAvatar, sources: np.ndarray, windows: np.ndarray):
        """The faces of frames whose audio is not silent, through the shared batcher: (256 x 256
        faces or None, weights). Silent frames never wait for the networks."""
        weights = speech_weight(windows)
        active = np.flatnonzero(weights > 0)
        faces: list[np.ndarray | None] = [None] * len(sources)
        if len(active):
            results = self.scheduler.submit(
                [FaceRequest(prepared.latents[int(sources[k])], windows[k]) for k in active])
            for k, face in zip(active, results):
                faces[k] = face
        return faces, weights

    def on_device(self, sources: np.ndarray):
        """Source frame indices as a tensor on the device, for indexing the latents."""
        import torch

        return torch.as_tensor(np.asarray(sources, np.int64), device=self.models.device)

    # -- frames --------------------------------------------------------------------------------

    @staticmethod
    def blend(frame: np.ndarray, face: np.ndarray | None, box: np.ndarray, mask: np.ndarray,
              weight: float) -> np.ndarray:
        """Paste the generated face into a copy of the frame through the soft lower-face mask; a silent
        frame (weight 0) keeps the avatar's own mouth."""
        out = frame.copy()
        if face is None or weight <= 0:
            return out
        x0, y0, x1, y1 = (int(v) for v in box)
        gen = cv2.resize(face, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        src = frame[y0:y1, x0:x1].astype(np.float32)
        alpha = (mask.astype(np.float32) * np.float32(weight / 255.0))[..., None]
        out[y0:y1, x0:x1] = np.rint(src + alpha * (gen - src)).astype(np.uint8)
        return out

    def _finish(self, avatar: Avatar, prepared: PreparedAvatar, sources, faces, weights, drives) -> list[np.ndarray]:
        """Blend each face in, then move the eyes and the head by the frame's controls."""
        out = []
        for s, f, w, d in zip(sources, faces, weights, drives):
            s = int(s)
            frame = self.blend(avatar.frames[s], f, prepared.boxes[s], prepared.masks[s], float(w))
            prepared.motion.apply(frame, avatar, s, d.controls)
            out.append(frame)
        return out

    def render_batch(self, avatar: Avatar, indices: list[int], drives: list[FrameDrive]) -> list[np.ndarray]:
        """Output frames `indices`, `batch_size` at a time on the device; each batch is blended in a
        worker thread while the device computes the next."""
        if len(indices) != len(drives):
            raise LivehumanError(f"{len(indices)} frame indices but {len(drives)} drives")
        prepared = self._prepared(avatar)
        sources = np.array([avatar.source_index(k) for k in indices], np.int64)
        windows = np.stack([fit_window(d.audio) for d in drives]) if drives else np.zeros((0, 1), np.float32)
        chunks = range(0, len(indices), self.batch_size)
        if len(chunks) <= 1:
            faces, weights = self.generate(prepared, sources, windows) if len(indices) else ([], [])
            return self._finish(avatar, prepared, sources, faces, weights, drives)
        pending = []
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="musetalk-blend") as pool:
            for a in chunks:
                part = slice(a, a + self.batch_size)
                faces, weights = self.generate(prepared, sources[part], windows[part])
                pending.append(pool.submit(self._finish, avatar, prepared, sources[part], faces, weights, drives[part]))
            return [frame for p in pending for frame in p.result()]

    def render(self, avatar: Avatar, index: int, drive: FrameDrive) -> np.ndarray:
        """Output frame `index` (BGR uint8, the avatar's whole frame); safe from several threads."""
        return self.render_batch(avatar, [index], [drive])[0]
