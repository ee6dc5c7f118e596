"""Attribution methods, one per module behind :class:`~govkit.explain.methods.base.AttributionMethod`.

Every method returns one map per image (N×H×W, float32): the attribution
for the model's **logit** of the target class, summed over channels.  With
two-class models the two logits' gradients are exact negatives of each
other, so class-contrast readings are meaningless; govkit explains the
**true** class's logit (the image's label) and says so in its report.
:data:`ATTRIBUTION_METHODS` is the registry ``govkit explain run`` reads.
"""

from govkit.explain.methods.base import AttributionMethod
from govkit.explain.methods.gradcam import GradCAM
from govkit.explain.methods.gradient_shap import GradientShap
from govkit.explain.methods.integrated_gradients import IntegratedGradients
from govkit.explain.methods.kernel_shap import KernelShap
from govkit.explain.methods.lime import Lime
from govkit.explain.methods.occlusion import Occlusion
from govkit.explain.methods.saliency import Saliency

ATTRIBUTION_METHODS: dict[str, AttributionMethod] = {
    m.name: m
    for m in (
        IntegratedGradients(),
        Saliency(),
        GradientShap(),
        GradCAM(),
        Occlusion(),
        KernelShap(),
        Lime(),
    )
}

__all__ = ["ATTRIBUTION_METHODS", "AttributionMethod"]
