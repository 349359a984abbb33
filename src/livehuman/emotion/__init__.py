"""Emotion: what the user feels (from their words and their voice), and what the avatar shows."""
