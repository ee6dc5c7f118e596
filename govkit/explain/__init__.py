"""Explainability: attribution methods (captum) and quantitative tests of the attributions."""
