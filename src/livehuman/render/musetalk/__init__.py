"""The musetalk engine: MuseTalk's latent-inpainting UNet with the user's weights."""

from livehuman.render.musetalk.engine import MuseTalkEngine, PreparedAvatar
from livehuman.render.musetalk.weights import MuseTalkFiles, MuseTalkModels, find_weights, load_models

__all__ = ["MuseTalkEngine", "PreparedAvatar", "MuseTalkFiles", "MuseTalkModels", "find_weights", "load_models"]
