"""Backbone registry over timm, weight resolution (explicit file, offline EfficientNet-Lite0, timm's hub), batched cached feature extraction."""
