"""The musetalk engine: MuseTalk's latent-inpainting UNet with the user's weights."""
