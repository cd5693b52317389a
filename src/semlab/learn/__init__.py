"""Heads and training on CNN features, sample-grouped splits, metrics, plots, fine-tuning, prediction."""
