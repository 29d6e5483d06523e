"""Benchmark loaders: raw files (local folder or hub) -> validated, normalised MCQ docs."""
