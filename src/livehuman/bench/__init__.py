"""Benchmarks: speed and lip-sync quality, printed and recorded in docs/benchmarks.md."""
