"""Random MuseTalk weights in MuseTalk's own file layout: tiny ones for tests and benchmarks without a
GPU, and full-size ones (MuseTalk's, sd-vae-ft-mse's and whisper-tiny's exact configurations) that
cost a GPU exactly what the real weights cost, for timing where the real weights cannot be had."""

from __future__ import annotations

import json
from pathlib import Path

TINY_WHISPER_WIDTH = 32  # stands in for whisper-tiny's 384
TINY_WHISPER_LAYERS = 2  # whisper-tiny has 4


def tiny_unet_config(cross_attention_dim: int = TINY_WHISPER_WIDTH) -> dict:
    """A small musetalk.json: the same keys and block types as MuseTalk's, far fewer channels."""
    return {
        "_class_name": "UNet2DConditionModel",
        "_diffusers_version": "0.6.0.dev0",
        "act_fn": "silu",
        "attention_head_dim": 8,
        "block_out_channels": [16, 32],
        "center_input_sample": False,
        "cross_attention_dim": cross_attention_dim,
        "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
        "downsample_padding": 1,
        "flip_sin_to_cos": True,
        "freq_shift": 0,
        "in_channels": 8,
        "layers_per_block": 1,
        "mid_block_scale_factor": 1,
        "norm_eps": 1e-05,
        "norm_num_groups": 8,
        "out_channels": 4,
        "sample_size": 32,
        "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
    }


def full_unet_config() -> dict:
    """MuseTalk 1.5's musetalkV15/musetalk.json: Stable Diffusion 1.x's UNet (about 850 M parameters)
    with 8 input channels and whisper-tiny's width for cross-attention."""
    return {
        **tiny_unet_config(384),
        "block_out_channels": [320, 640, 1280, 1280],
        "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
        "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
        "layers_per_block": 2,
        "norm_num_groups": 32,
        "sample_size": 64,
    }


def write_tiny_models(root: str | Path, seed: int = 0, version: str = "v15", face_parse: bool = False,
                      full_size: bool = False) -> Path:
    """Write random weights under `root` exactly where MuseTalk's download script puts the real ones:
    tiny networks, or with `full_size` the real networks' shapes (a 1.7 GB UNet file, in float16)."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperModel

    root = Path(root)
    torch.manual_seed(seed)
    unet_dir = root / ("musetalkV15" if version == "v15" else "musetalk")
    unet_dir.mkdir(parents=True, exist_ok=True)
    config = full_unet_config() if full_size else tiny_unet_config()
    (unet_dir / "musetalk.json").write_text(json.dumps(config, indent=2))
    unet = UNet2DConditionModel.from_config(config)
    state = unet.state_dict()
    if full_size:
        state = {k: v.half() for k, v in state.items()}  # half the file; the loader casts on loading
    else:
        # Random init leaves some output layers at zero; perturb every weight so the UNet really computes.
        with torch.no_grad():
            for p in unet.parameters():
                p.add_(torch.randn_like(p) * 0.05)
    torch.save(state, unet_dir / ("unet.pth" if version == "v15" else "pytorch_model.bin"))
    del unet, state

    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(128, 256, 512, 512) if full_size else (8, 8, 16, 16),
        layers_per_block=2 if full_size else 1,
        latent_channels=4,
        norm_num_groups=32 if full_size else 4,
        sample_size=256,
        scaling_factor=0.18215,
    )
    vae.save_pretrained(root / "sd-vae", safe_serialization=False)  # sd-vae-ft-mse ships a .bin

    size = {  # whisper-tiny's encoder; the decoder is never loaded, so it stays small
        "d_model": 384, "encoder_layers": 4, "encoder_attention_heads": 6, "encoder_ffn_dim": 1536,
    } if full_size else {
        "d_model": TINY_WHISPER_WIDTH, "encoder_layers": TINY_WHISPER_LAYERS, "encoder_attention_heads": 2,
        "encoder_ffn_dim": 64,
    }
    whisper_config = WhisperConfig(
        vocab_size=64,
        num_mel_bins=80,
        **size,
        decoder_layers=1,
        decoder_attention_heads=2,
        decoder_ffn_dim=64,
        max_source_positions=1500,
        max_target_positions=32,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=1,
    )
    whisper = WhisperModel(whisper_config)
    whisper_dir = root / "whisper"
    whisper_dir.mkdir(parents=True, exist_ok=True)
    whisper_config.save_pretrained(whisper_dir)
    torch.save(whisper.state_dict(), whisper_dir / "pytorch_model.bin")  # openai/whisper-tiny's file name
    WhisperFeatureExtractor(feature_size=80).save_pretrained(whisper_dir)

    if face_parse:
        (root / "face-parse-bisent").mkdir(exist_ok=True)
        torch.save({}, root / "face-parse-bisent" / "79999_iter.pth")
    return root
