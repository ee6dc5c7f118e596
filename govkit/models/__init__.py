"""Model specs, safe loading, datasets and device selection (PyTorch imported lazily)."""
