"""Conditional generation of micrographs (ACWGAN-GP, conditional DDPM), conditioning, evaluation with descriptors."""
