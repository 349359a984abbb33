"""Motion: speech (audio and phone timings) to per-frame face controls."""
