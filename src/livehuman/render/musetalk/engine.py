"""The `musetalk` render engine: MuseTalk's single-step latent inpainting of the lower face."""

from __future__ import annotations

import hashlib
import json
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
    WhisperFeatures,
    fit_window,
    speech_weight,
)
from livehuman.render.musetalk.crop import CROP_SIZE, EXTRA_MARGIN, crop_box, crop_face, lower_face_mask
from livehuman.render.musetalk.weights import MuseTalkModels, find_weights, load_models, require_libraries, resolve_device

CACHE_LATENTS = "latents.npz"
CACHE_META = "meta.json"
CACHE_FORMAT = 1


@dataclass
class PreparedAvatar:
    """What rendering one avatar needs, kept in memory: per source frame its box, mask and latents."""

    boxes: np.ndarray  # (n, 4) int64 crop boxes x0, y0, x1, y1
    masks: list[np.ndarray]  # per frame, (box height, box width) uint8 blending mask (255 = generated)
    latents: object  # torch tensor (n, 8, 32, 32) on the device: masked-crop latents | reference latents
    key: tuple = ()  # which weights, version and margin these were made with


class MuseTalkEngine:
    """Lip sync with MuseTalk's UNet and the user's weights; each frame is driven by its audio window."""

    name = "musetalk"
    audio_context = (AUDIO_BEFORE, AUDIO_AFTER)

    def __init__(self, models_dir: str | Path, device: str = "auto", dtype=None, batch_size: int = 8,
                 compile: bool = False, version: str | None = None, extra_margin: int = EXTRA_MARGIN):
        require_libraries()
        self.files = find_weights(models_dir, version)  # fails early, listing every missing file
        self.vae_fingerprint = self.files.fingerprint()
        if batch_size < 1:
            raise LivehumanError(f"batch size must be at least 1, not {batch_size}")
        self.device, self.dtype = resolve_device(device, dtype)  # a bad device fails here, not mid-render
        self.batch_size = batch_size
        self.compile = compile
        self.extra_margin = extra_margin
        self._models: MuseTalkModels | None = None
        self._features: WhisperFeatures | None = None
        self._unet = None

    @property
    def version(self) -> str:
        return self.files.version

    @property
    def models(self) -> MuseTalkModels:
        """The networks, loaded on first use."""
        if self._models is None:
            self._models = load_models(self.files.root, self.device, self.dtype, self.files.version)
            m = self._models
            self._features = WhisperFeatures(m.whisper, m.feature_extractor, m.device, m.dtype)
            self._unet = m.unet
            if self.compile:
                import torch

                self._unet = torch.compile(m.unet)
        return self._models

    @property
    def features(self) -> WhisperFeatures:
        """Audio windows -> UNet conditioning, on the models' device."""
        if self._features is None:
            _ = self.models
        return self._features

    # -- preparation ---------------------------------------------------------------------------

    def load(self, avatar: Avatar) -> None:
        """Boxes and masks from the landmarks; VAE latents from the avatar's cache (made once)."""
        import torch

        m = self.models
        key = (self.vae_fingerprint, self.version, self.extra_margin, avatar.bbox_shift, str(m.device), m.dtype)
        prepared = avatar.extra.get(self.name)
        if isinstance(prepared, PreparedAvatar) and prepared.key == key:
            return
        size = avatar.size
        boxes = np.stack([
            crop_box(avatar.landmarks[i], size, self.version, avatar.bbox_shift, self.extra_margin)
            for i in range(avatar.n_frames)
        ])
        # uint8 keeps a long video's masks small; 0 stays exactly 0, so the rest of the face is untouched.
        masks = [np.rint(lower_face_mask(avatar.landmarks[i], boxes[i]) * 255).astype(np.uint8)
                 for i in range(avatar.n_frames)]
        latents = self._cached_latents(avatar, boxes)
        avatar.extra[self.name] = PreparedAvatar(boxes, masks, torch.from_numpy(latents).to(m.device, m.dtype), key)

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
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(crops[..., ::-1])).to(m.device)
            x = x.permute(0, 3, 1, 2).to(m.dtype) / 255.0
            masked = x.clone()
            masked[:, :, CROP_SIZE // 2 :, :] = 0.0  # masked before normalising: the lower half is black
            both = torch.cat([masked, x]) * 2.0 - 1.0
            # The distribution's mode, not a sample: the same avatar always gets the same latents.
            lat = m.vae.encode(both).latent_dist.mode() * m.scaling_factor
            n = len(crops)
            return torch.cat([lat[:n], lat[n:]], dim=1).float().cpu().numpy()

    # -- rendering -----------------------------------------------------------------------------

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
            image = m.vae.decode(latents / m.scaling_factor).sample
            image = ((image.float() / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)
            return image.permute(0, 2, 3, 1).flip(-1)

    def generate(self, prepared: PreparedAvatar, sources: np.ndarray, windows: np.ndarray):
        """UNet + VAE decode for frames whose audio is not silent: (256 x 256 faces or None, weights)."""
        weights = speech_weight(windows)
        active = np.flatnonzero(weights > 0)
        faces: list[np.ndarray | None] = [None] * len(sources)
        if len(active):
            tokens = self.features(windows[active])
            index = self.on_device(sources[active])
            pred = self.unet_step(prepared.latents[index], tokens)
            decoded = self.decode(pred).cpu().numpy()
            for j, k in enumerate(active):
                faces[k] = decoded[j]
        return faces, weights

    def on_device(self, sources: np.ndarray):
        """Source frame indices as a tensor on the device, for indexing the latents."""
        import torch

        return torch.as_tensor(np.asarray(sources, np.int64), device=self.models.device)

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

    def _blend_all(self, avatar: Avatar, prepared: PreparedAvatar, sources, faces, weights) -> list[np.ndarray]:
        return [
            self.blend(avatar.frames[s], f, prepared.boxes[s], prepared.masks[s], float(w))
            for s, f, w in zip(sources, faces, weights)
        ]

    def render_batch(self, avatar: Avatar, indices: list[int], drives: list[FrameDrive]) -> list[np.ndarray]:
        """Output frames `indices`, `batch_size` at a time on the device; each batch is blended in a
        worker thread while the device computes the next."""
        if len(indices) != len(drives):
            raise LivehumanError(f"{len(indices)} frame indices but {len(drives)} drives")
        self.load(avatar)
        prepared: PreparedAvatar = avatar.extra[self.name]
        sources = np.array([avatar.source_index(k) for k in indices], np.int64)
        windows = np.stack([fit_window(d.audio) for d in drives]) if drives else np.zeros((0, 1), np.float32)
        chunks = range(0, len(indices), self.batch_size)
        if len(chunks) <= 1:
            faces, weights = self.generate(prepared, sources, windows) if len(indices) else ([], [])
            return self._blend_all(avatar, prepared, sources, faces, weights)
        pending = []
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="musetalk-blend") as pool:
            for a in chunks:
                s, w = sources[a : a + self.batch_size], windows[a : a + self.batch_size]
                faces, weights = self.generate(prepared, s, w)
                pending.append(pool.submit(self._blend_all, avatar, prepared, s, faces, weights))
            return [frame for p in pending for frame in p.result()]

    def render(self, avatar: Avatar, index: int, drive: FrameDrive) -> np.ndarray:
        """Output frame `index` (BGR uint8, the avatar's whole frame)."""
        return self.render_batch(avatar, [index], [drive])[0]
