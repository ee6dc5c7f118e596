"""White-box adversarial attacks in image space [0, 1], batched, with one protocol.

Every attack follows the :class:`AdversarialAttack` protocol:
``attack.perturb(model, x, y, eps, steps=…, restarts=…, generator=…)`` returns
adversarial images within the ε-ball (L∞ or L2) and the valid range;
:data:`ADVERSARIAL_ATTACKS` is the registry.  FGSM and PGD maximise
cross-entropy for three or more classes and the logit margin
(max_{j≠y} z_j − z_y) for two-class models, where DLR is undefined; the APGD
variants say their loss in their name.

* FGSM (Goodfellow et al. 2015): one signed-gradient step of size ε.
* PGD (Madry et al. 2018), L∞ and L2: random start, ``steps`` steps of
  2.5·ε/steps, ``restarts`` random restarts; a sample counts as broken if any
  restart breaks it.
* APGD (Croce & Hein, ICML 2020, Algorithm 1): momentum 0.75; at each
  checkpoint w_j the step size is halved and the iterate restarted from the
  best point when (1) fewer than ρ·(w_j − w_{j−1}) of the steps since the
  last checkpoint *increased the loss over the previous step*, or (2) the
  step size and the best loss are both unchanged since the last checkpoint.
  ``apgd-ce`` maximises cross-entropy, ``apgd-margin`` the logit margin.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class AdversarialAttack(Protocol):
    """A white-box attack: ``norm`` is "linf" or "l2"; ``perturb`` returns x + δ with ‖δ‖ ≤ ε,
    inside [0, 1], and x itself (a copy) at ε = 0."""

    @property
    def name(self) -> str: ...

    @property
    def norm(self) -> str: ...

    def perturb(
        self,
        model: torch.nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        eps: float,
        steps: int = ...,
        restarts: int = ...,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor: ...


def margin_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """max_{j≠y} z_j − z_y per sample (positive = misclassified)."""
    other = logits.scatter(1, y[:, None], float("-inf")).amax(1)
    return other - logits.gather(1, y[:, None])[:, 0]


def attack_loss(logits: torch.Tensor, y: torch.Tensor, loss: str = "auto") -> torch.Tensor:
    """Per-sample loss the attacker maximises: "ce", "margin", or "auto" (margin for two classes, else CE)."""
    if loss == "margin" or (loss == "auto" and logits.shape[1] == 2):
        return margin_loss(logits, y)
    return torch.nn.functional.cross_entropy(logits, y, reduction="none")


def _grad(model, x, y, loss_name: str = "auto") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    x = x.detach().requires_grad_(True)
    logits = model(x)
    loss = attack_loss(logits, y, loss_name)
    (g,) = torch.autograd.grad(loss.sum(), x)
    return g, loss.detach(), logits.detach()


@contextlib.contextmanager
def frozen(model):
    """Parameters stop requiring gradients during an attack: autograd then keeps and
    computes only what the input gradient needs (less memory traffic, faster)."""
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield model
    finally:
        for p in params:
            p.requires_grad_(True)


def _pgd_linf_steps(model, x, y, delta, eps, alpha, steps):
    """The L∞ inner loop: sign step, clamp to the ball ∩ box.

    A sample whose current iterate is already misclassified is adversarial:
    it keeps that iterate and leaves the batch, so later steps only run on
    the samples still standing (the robust accuracy can only be lower, and
    the work shrinks as the attack succeeds).
    """
    lo, hi = (-x).clamp(min=-eps), (1 - x).clamp(max=eps)  # ball ∩ box, precomputed
    delta = delta.clone()
    active = torch.arange(len(x), device=x.device)
    for _ in range(steps):
        d = delta[active].requires_grad_(True)
        logits = model(x[active] + d)
        loss = attack_loss(logits, y[active])
        (g,) = torch.autograd.grad(loss.sum(), d)
        standing = logits.detach().argmax(1) == y[active]
        step = torch.min(torch.max(d.detach() + alpha * g.sign(), lo[active]), hi[active])
        delta[active] = torch.where(standing.view(-1, *([1] * (x.dim() - 1))), step, d.detach())
        active = active[standing]
        if not len(active):
            break
    return delta


def _norm(v: torch.Tensor) -> torch.Tensor:
    return v.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (v.dim() - 1)))


def project(delta: torch.Tensor, x: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    """Project onto the ε-ball and the box [0, 1] (box last, which keeps L∞ exact)."""
    if norm == "linf":
        delta = delta.clamp(-eps, eps)
    else:
        delta = delta * torch.clamp(eps / _norm(delta), max=1.0)
    return (x + delta).clamp(0, 1) - x


def _step(g: torch.Tensor, alpha: float, norm: str) -> torch.Tensor:
    return alpha * (g.sign() if norm == "linf" else g / _norm(g))


def _random_start(x, eps, norm, gen):
    if norm == "linf":
        d = (torch.rand(x.shape, generator=gen, device=x.device) * 2 - 1) * eps
    else:
        d = torch.randn(x.shape, generator=gen, device=x.device)
        r = torch.rand((x.shape[0],), generator=gen, device=x.device).view(-1, *([1] * (x.dim() - 1)))
        d = d / _norm(d) * eps * r
    return project(d, x, eps, norm)


@dataclass(frozen=True)
class FGSM:
    name: str = "fgsm"
    norm: str = "linf"

    def perturb(self, model, x, y, eps, steps=1, restarts=1, generator=None):
        if eps == 0:
            return x.clone()
        with frozen(model):
            g, _, _ = _grad(model, x, y)
        return x + project(eps * g.sign(), x, eps, "linf")


@dataclass(frozen=True)
class PGD:
    name: str
    norm: str

    def perturb(self, model, x, y, eps, steps=10, restarts=1, generator=None):
        if eps == 0:
            return x.clone()
        with frozen(model):
            return self._perturb(model, x, y, eps, steps, restarts, generator)

    def _perturb(self, model, x, y, eps, steps, restarts, generator):
        alpha = 2.5 * eps / steps
        best = x.clone()
        broken = torch.zeros(len(x), dtype=torch.bool, device=x.device)
        for _r in range(restarts):
            delta = _random_start(x, eps, self.norm, generator)
            if self.norm == "linf":
                delta = _pgd_linf_steps(model, x, y, delta, eps, alpha, steps)
            else:
                for _ in range(steps):
                    g, _, _ = _grad(model, x + delta, y)
                    delta = project(delta + _step(g, alpha, self.norm), x, eps, self.norm)
            adv = x + delta
            if restarts == 1:
                return adv  # no restart to choose between: skip the extra forward pass
            with torch.no_grad():
                now = model(adv).argmax(1) != y
            take = now & ~broken
            best[take] = adv[take]
            broken |= now
            if broken.all():
                break
        return best


def _checkpoints(n_iter: int) -> list[int]:
    p = [0.0, 0.22]
    while p[-1] < 1:
        p.append(p[-1] + max(p[-1] - p[-2] - 0.03, 0.06))
    return sorted({math.ceil(v * n_iter) for v in p[1:] if v <= 1})


@dataclass(frozen=True)
class APGD:
    """APGD: the step-size-free PGD of Croce & Hein (2020), L∞ or L2, with the loss it is named after."""

    name: str = "apgd-ce"
    norm: str = "linf"
    loss: str = "ce"
    rho: float = 0.75
    momentum: float = 0.75

    def perturb(self, model, x, y, eps, steps=20, restarts=1, generator=None):
        if eps == 0:
            return x.clone()
        with frozen(model):
            return self._perturb(model, x, y, eps, steps, restarts, generator)

    def _perturb(self, model, x, y, eps, steps, restarts, generator):
        n = len(x)
        shape = (-1, *([1] * (x.dim() - 1)))
        best_adv = x.clone()
        broken = torch.zeros(n, dtype=torch.bool, device=x.device)
        checks = _checkpoints(steps)
        for _ in range(restarts):
            x_k = x + _random_start(x, eps, self.norm, generator)
            eta = torch.full((n,), 2 * eps, device=x.device)
            g, loss, logits = _grad(model, x_k, y, self.loss)
            best_loss, x_max, prev_loss = loss.clone(), x_k.clone(), loss.clone()
            x_prev = x_k.clone()
            increases = torch.zeros(n, device=x.device)
            last_check, last_eta, last_best = 0, eta.clone(), best_loss.clone()
            for k in range(steps):
                z = x + project(x_k + _step(g, 1.0, self.norm) * eta.view(shape) - x, x, eps, self.norm)
                step = self.momentum if k > 0 else 1.0
                x_new = x + project(x_k + step * (z - x_k) + (1 - step) * (x_k - x_prev) - x, x, eps, self.norm)
                x_prev, x_k = x_k, x_new
                g, loss, logits = _grad(model, x_k, y, self.loss)
                increases += (loss > prev_loss).float()  # successive increases (condition 1)
                prev_loss = loss
                improved = loss > best_loss
                best_loss = torch.where(improved, loss, best_loss)
                x_max = torch.where(improved.view(shape), x_k, x_max)
                wrong = logits.argmax(1) != y
                take = wrong & ~broken
                best_adv[take] = x_k[take]
                broken |= wrong
                if k + 1 in checks:
                    span = k + 1 - last_check
                    cond1 = increases < self.rho * span
                    cond2 = (eta == last_eta) & (best_loss == last_best)
                    halve = cond1 | cond2
                    last_eta, last_best = eta.clone(), best_loss.clone()
                    eta = torch.where(halve, eta / 2, eta)
                    x_k = torch.where(halve.view(shape), x_max, x_k)
                    if halve.any():
                        g, restart_loss, _ = _grad(model, x_k, y, self.loss)
                        prev_loss = torch.where(halve, restart_loss, prev_loss)
                    increases.zero_()
                    last_check = k + 1
            if broken.all():
                break
        return best_adv


ADVERSARIAL_ATTACKS: dict[str, AdversarialAttack] = {
    a.name: a
    for a in (
        FGSM(),
        PGD("pgd-linf", "linf"),
        PGD("pgd-l2", "l2"),
        APGD(),
        APGD("apgd-margin", loss="margin"),
    )
}
