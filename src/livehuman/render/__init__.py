"""Renderers: an avatar plus per-frame drive in, video frames out."""
