"""``semlab demo``: the end-to-end demo on synthetic data."""
