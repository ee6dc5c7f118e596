"""Grad-CAM (Selvaraju et al. 2017) on the last convolution, upsampled to the input size."""

from __future__ import annotations

from govkit.explain.methods.base import last_conv


class GradCAM:
    name = "grad-cam"

    def attribute(self, model, x, target):
        from captum.attr import LayerAttribution, LayerGradCam

        cam = LayerGradCam(model, last_conv(model)).attribute(x, target=target, relu_attributions=True)
        up = LayerAttribution.interpolate(cam, tuple(x.shape[-2:]), interpolate_mode="bilinear")
        return up.detach().sum(1).float()
