"""The musetalk engine: MuseTalk's latent-inpainting UNet with the user's weights."""

from livehuman.render.musetalk.engine import MuseTalkEngine, PreparedAvatar
from livehuman.render.musetalk.weights import MuseTalkFiles, MuseTalkModels, find_weights, load_models

__all__ = ["MuseTalkEngine", "PreparedAvatar", "MuseTalkFiles", "MuseTalkModels", "find_weights", "load_models",
           "bench_musetalk"]


def bench_musetalk(*args, **kwargs) -> dict:
    """See livehuman.render.musetalk.bench.bench_musetalk."""
    from livehuman.render.musetalk.bench import bench_musetalk as run

    return run(*args, **kwargs)
