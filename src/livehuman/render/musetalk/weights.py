"""Finding and loading MuseTalk's weights from its `models/` directory layout."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from livehuman.errors import LivehumanError

# MuseTalk's layout, relative to the models directory (as its download_weights.sh writes it).
UNET_FILES = {
    "v15": ("musetalkV15/unet.pth", "musetalkV15/musetalk.json"),
    "v1": ("musetalk/pytorch_model.bin", "musetalk/musetalk.json"),
}
VAE_DIR = "sd-vae"
VAE_CONFIG = "sd-vae/config.json"
VAE_WEIGHTS = ("sd-vae/diffusion_pytorch_model.bin", "sd-vae/diffusion_pytorch_model.safetensors")
WHISPER_DIR = "whisper"
WHISPER_CONFIG = "whisper/config.json"
WHISPER_WEIGHTS = ("whisper/pytorch_model.bin", "whisper/model.safetensors")
WHISPER_PREPROCESSOR = "whisper/preprocessor_config.json"
FACE_PARSE = "face-parse-bisent/79999_iter.pth"

_SOURCES = {
    "musetalkV15": "huggingface.co/TMElyralab/MuseTalk (musetalkV15/)",
    "musetalk": "huggingface.co/TMElyralab/MuseTalk (musetalk/)",
    "sd-vae": "huggingface.co/stabilityai/sd-vae-ft-mse (config.json, diffusion_pytorch_model.bin)",
    "whisper": "huggingface.co/openai/whisper-tiny (config.json, pytorch_model.bin, preprocessor_config.json)",
}


@dataclass(frozen=True)
class MuseTalkFiles:
    """The files of one MuseTalk weights directory, checked to exist."""

    root: Path
    version: str  # "v15" or "v1"
    unet_weights: Path
    unet_config: Path
    vae_dir: Path
    whisper_dir: Path
    face_parse: Path | None  # optional; masks come from landmarks when it is absent

    def fingerprint(self) -> str:
        """A short digest of the VAE (reference latents depend on it): its config, and its weights'
        size and first and last megabyte (enough to tell checkpoints apart without reading 300 MB)."""
        digest = hashlib.sha1((self.vae_dir / "config.json").read_bytes())
        for name in ("diffusion_pytorch_model.bin", "diffusion_pytorch_model.safetensors"):
            path = self.vae_dir / name
            if path.exists():
                size = path.stat().st_size
                digest.update(f"{name}:{size}".encode())
                with path.open("rb") as f:
                    digest.update(f.read(1 << 20))
                    f.seek(max(0, size - (1 << 20)))
                    digest.update(f.read())
        return digest.hexdigest()[:16]


def _first(root: Path, candidates: tuple[str, ...]) -> Path | None:
    return next((root / c for c in candidates if (root / c).is_file()), None)


def find_weights(models_dir: str | Path, version: str | None = None) -> MuseTalkFiles:
    """Check a MuseTalk `models/` directory; raise one LivehumanError naming every missing file."""
    root = Path(models_dir).expanduser()
    if not root.is_dir():
        raise LivehumanError(
            f"MuseTalk models directory {root} does not exist: download MuseTalk's weights "
            f"(its download_weights.sh) and pass the resulting models/ directory with --models"
        )
    if version is None:
        version = "v15" if (root / UNET_FILES["v15"][0]).is_file() or not (root / UNET_FILES["v1"][0]).is_file() else "v1"
    if version not in UNET_FILES:
        raise LivehumanError(f"unknown MuseTalk version {version!r}: use 'v15' or 'v1'")
    missing: list[str] = []
    for rel in UNET_FILES[version]:
        if not (root / rel).is_file():
            missing.append(f"{rel} (from {_SOURCES[rel.split('/')[0]]})")
    if not (root / VAE_CONFIG).is_file():
        missing.append(f"{VAE_CONFIG} (from {_SOURCES['sd-vae']})")
    if _first(root, VAE_WEIGHTS) is None:
        missing.append(f"{VAE_WEIGHTS[0]} (from {_SOURCES['sd-vae']})")
    for rel in (WHISPER_CONFIG, WHISPER_PREPROCESSOR):
        if not (root / rel).is_file():
            missing.append(f"{rel} (from {_SOURCES['whisper']})")
    if _first(root, WHISPER_WEIGHTS) is None:
        missing.append(f"{WHISPER_WEIGHTS[0]} (from {_SOURCES['whisper']})")
    if missing:
        raise LivehumanError(
            f"MuseTalk weights incomplete in {root}: missing " + "; ".join(missing)
            + " (put each file at that path under the models directory)"
        )
    face_parse = root / FACE_PARSE
    return MuseTalkFiles(
        root=root,
        version=version,
        unet_weights=root / UNET_FILES[version][0],
        unet_config=root / UNET_FILES[version][1],
        vae_dir=root / VAE_DIR,
        whisper_dir=root / WHISPER_DIR,
        face_parse=face_parse if face_parse.is_file() else None,
    )


@dataclass
class MuseTalkModels:
    """The loaded networks, on one device in one dtype, ready for inference."""

    files: MuseTalkFiles
    unet: object  # diffusers UNet2DConditionModel
    vae: object  # diffusers AutoencoderKL
    whisper: object  # transformers WhisperEncoder
    feature_extractor: object  # transformers WhisperFeatureExtractor
    device: object  # torch.device
    dtype: object  # torch.dtype

    @property
    def scaling_factor(self) -> float:
        return float(self.vae.config.scaling_factor)

    @property
    def d_model(self) -> int:
        return int(self.whisper.config.d_model)

    @property
    def n_hidden_states(self) -> int:
        """Embeddings plus one per encoder layer: 5 for whisper-tiny."""
        return int(self.whisper.config.encoder_layers) + 1


def require_libraries() -> None:
    """Fail with an installable hint when the optional dependencies are absent."""
    import importlib.util

    missing = [n for n in ("torch", "diffusers", "transformers") if importlib.util.find_spec(n) is None]
    if missing:
        raise LivehumanError(
            f"the musetalk engine needs {', '.join(missing)}: pip install 'livehuman[musetalk]'"
        )


def resolve_device(device: str = "auto", dtype=None):
    """("auto" | "cpu" | "cuda[:n]", dtype or None) -> (torch.device, torch.dtype): float16 on CUDA."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise LivehumanError(f"unknown device {device!r}: use auto, cpu or cuda") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise LivehumanError("device 'cuda' asked for, but torch sees no CUDA GPU: use --device cpu")
    if dtype is None:
        dtype = torch.float16 if dev.type == "cuda" else torch.float32
    elif isinstance(dtype, str):
        names = {"float16": torch.float16, "fp16": torch.float16, "bfloat16": torch.bfloat16,
                 "float32": torch.float32, "fp32": torch.float32}
        if dtype not in names:
            raise LivehumanError(f"unknown dtype {dtype!r}: use float16, bfloat16 or float32")
        dtype = names[dtype]
    return dev, dtype


def _load_state_dict(path: Path) -> dict:
    import torch

    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    # Some checkpoints wrap the weights ({"state_dict": ...}) or keep DataParallel's prefix.
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_unet(files: MuseTalkFiles):
    """MuseTalk's UNet: diffusers' UNet2DConditionModel built from musetalk.json, then its weights."""
    from diffusers import UNet2DConditionModel

    try:
        config = json.loads(files.unet_config.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise LivehumanError(f"cannot read {files.unet_config}: {exc}") from None
    unet = UNet2DConditionModel.from_config(config)
    state = _load_state_dict(files.unet_weights)
    result = unet.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise LivehumanError(
            f"{files.unet_weights} does not match {files.unet_config.name}: "
            f"{len(result.missing_keys)} missing keys (e.g. {result.missing_keys[:3]}), "
            f"{len(result.unexpected_keys)} unexpected (e.g. {result.unexpected_keys[:3]})"
        )
    if unet.config.in_channels != 8 or unet.config.out_channels != 4:
        raise LivehumanError(f"{files.unet_config} is not a MuseTalk UNet: it needs 8 input and 4 output channels")
    return unet


def load_models(models_dir: str | Path, device: str = "auto", dtype=None, version: str | None = None) -> MuseTalkModels:
    """Load MuseTalk's UNet, the sd-vae AutoencoderKL and whisper-tiny's encoder from `models_dir`."""
    require_libraries()
    import torch
    from diffusers import AutoencoderKL
    from transformers import WhisperFeatureExtractor, WhisperModel

    files = find_weights(models_dir, version)
    dev, dt = resolve_device(device, dtype)
    unet = load_unet(files)
    has_safetensors = (files.vae_dir / "diffusion_pytorch_model.safetensors").is_file()
    vae = AutoencoderKL.from_pretrained(str(files.vae_dir), use_safetensors=has_safetensors, low_cpu_mem_usage=False)
    whisper = WhisperModel.from_pretrained(str(files.whisper_dir)).encoder
    feature_extractor = WhisperFeatureExtractor.from_pretrained(str(files.whisper_dir))
    if whisper.config.d_model != unet.config.cross_attention_dim:
        raise LivehumanError(
            f"whisper's width ({whisper.config.d_model}) differs from the UNet's cross_attention_dim "
            f"({unet.config.cross_attention_dim}): {files.whisper_dir} must be whisper-tiny"
        )
    for module in (unet, vae, whisper):
        module.requires_grad_(False)
        module.eval()
        torch.nn.Module.to(module, dev, dt)  # diffusers' own `to` warns about fp32 modules these lack
    return MuseTalkModels(files, unet, vae, whisper, feature_extractor, dev, dt)

