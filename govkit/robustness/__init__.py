"""Robustness: medical-imaging corruptions and adversarial attacks, batched on the device."""
