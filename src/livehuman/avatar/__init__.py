"""Avatars: a photo, a video or an image folder, prepared once and cached on disk."""
