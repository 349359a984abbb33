"""Brains: conversation in the OpenAI Realtime protocol's shape (local cascade or the Realtime API)."""
