"""Explainability: attribution methods (captum) and quantitative checks of the attributions."""
