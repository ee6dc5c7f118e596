"""Reference models for membership inference, trained by govkit from the spec's ``train`` recipe.

* offline: each model trains on a random half of the population data;
* online: each model trains on a random half of population ∪ targets, and
  ``membership[k, i]`` records whether model k saw record i.

Several small models train at once: their parameters are stacked
(``torch.func.stack_module_state``) and one ``vmap``-ed functional call
runs all K forward and backward passes per step.  Adam is elementwise, so one
optimizer over the stacked tensors equals K separate ones.  Models whose
layers cannot be vmapped (e.g. BatchNorm in training mode) train one after
the other.

Trained models are cached in ``$GOVKIT_HOME/cache/reference/`` under a
content hash of (spec, data, seed, K, mode) and reloaded with
``weights_only=True``.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from govkit.canonical import canonical_json
from govkit.progress import Progress, silent


@dataclass
class ReferenceSet:
    states: list[dict[str, Any]]  # one state_dict per model (of the wrapped image-space model)
    membership: np.ndarray  # K × N_pool bool: model k trained on pool record i
    seconds_per_model: float
    concurrent: bool
    cached: bool


def cache_key(spec: Any, data_sha: str, k: int, mode: str, seed: int) -> str:
    body = {"spec": spec.spec_sha256(), "data": data_sha, "k": k, "mode": mode, "seed": seed, "v": 1}
    return hashlib.sha256(canonical_json(body)).hexdigest()


def _cache_dir() -> Path:
    from govkit.config import home

    d = home() / "cache" / "reference"
    d.mkdir(parents=True, exist_ok=True)
    return d


def membership_matrix(k: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Balanced design: every record is IN for exactly ⌊K/2⌋ models (each model sees about half).

    With K ≥ 2 every record has both IN and OUT models, which online attacks need.
    """
    if k == 1:
        return (rng.permutation(n) < n // 2)[None]
    ranks = np.argsort(rng.random((k, n)), axis=0)
    return ranks < k // 2


def _fresh(spec: Any, device: str, seed: int) -> Any:
    import torch

    from govkit.models.loading import build_network, make_wrapper

    torch.manual_seed(seed)
    return make_wrapper(build_network(spec), spec).to(device)


def train_sequential(
    spec: Any,
    x: np.ndarray,
    y: np.ndarray,
    membership: np.ndarray,
    *,
    device: str,
    seed: int,
    progress: Progress = silent,
) -> list[dict[str, Any]]:
    from govkit.models.training import train_model

    states = []
    for k, mask in progress(enumerate(membership), len(membership), "training reference models"):
        model = _fresh(spec, device, seed + k)
        train_model(model, x[mask], y[mask], spec.train, seed=seed + k, device=device)
        states.append({n: t.detach().cpu() for n, t in model.state_dict().items()})
    return states


def train_concurrent(
    spec: Any,
    x: np.ndarray,
    y: np.ndarray,
    membership: np.ndarray,
    *,
    device: str,
    seed: int,
    progress: Progress = silent,
) -> list[dict[str, Any]]:
    """Train K models at once with stacked parameters and ``vmap``."""
    import torch
    from torch.func import functional_call, stack_module_state

    from govkit.models.training import augment, make_optimizer

    recipe = spec.train
    models = [_fresh(spec, device, seed + k) for k in range(len(membership))]
    params, buffers = stack_module_state(models)
    base = models[0]
    opt = make_optimizer(list(params.values()), recipe)
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(device)
    yt = torch.from_numpy(np.asarray(y, dtype=np.int64)).to(device)
    subsets = [np.nonzero(m)[0] for m in membership]
    n_sub = min(len(s) for s in subsets)
    rng = np.random.default_rng(seed)

    def loss_one(p: Any, b: Any, xb: Any, yb: Any) -> Any:
        return torch.nn.functional.cross_entropy(functional_call(base, (p, b), (xb,)), yb)

    batched = torch.vmap(loss_one, in_dims=(0, 0, 0, 0), randomness="different")
    label = f"training {len(membership)} reference models at once (epochs)"
    for _ in progress(range(recipe.epochs), recipe.epochs, label):
        orders = np.stack([rng.permutation(s)[:n_sub] for s in subsets])
        for start in range(0, n_sub, recipe.batch_size):
            idx = torch.from_numpy(orders[:, start : start + recipe.batch_size]).to(device)
            xb, yb = xt[idx], yt[idx]
            if recipe.augment:
                xb = augment(xb.flatten(0, 1)).view_as(xb)
            opt.zero_grad(set_to_none=True)
            batched(params, buffers, xb, yb).sum().backward()
            opt.step()
    return [
        {**{n: p[k].detach().cpu() for n, p in params.items()}, **{n: b[k].detach().cpu() for n, b in buffers.items()}}
        for k in range(len(membership))
    ]


def train_references(
    spec: Any,
    x: np.ndarray,
    y: np.ndarray,
    *,
    k: int,
    mode: str,
    data_sha: str,
    seed: int = 0,
    device: str = "cpu",
    concurrent: bool = True,
    use_cache: bool = True,
    progress: Progress = silent,
) -> ReferenceSet:
    """Train (or load from cache) K reference models on the pool (x, y); ``progress`` shows the training."""
    import torch

    from govkit.errors import BadInput

    if spec.train is None:
        raise BadInput(f"{spec.ref}: the spec has no 'train' recipe, so reference models cannot be trained")
    if spec.entrypoint is None:
        raise BadInput(
            f"{spec.ref}: reference models need an entrypoint spec (a TorchScript artifact cannot be retrained)"
        )
    key = cache_key(spec, data_sha, k, mode, seed)
    path = _cache_dir() / f"{key}.pt"
    if use_cache and path.is_file():
        blob = torch.load(path, map_location="cpu", weights_only=True)
        return ReferenceSet(
            blob["states"], blob["membership"].numpy(), float(blob["seconds_per_model"]), bool(blob["concurrent"]), True
        )
    membership = membership_matrix(k, len(y), np.random.default_rng(seed))
    t0 = time.perf_counter()
    used_concurrent = concurrent and k > 1
    if used_concurrent:
        try:
            states = train_concurrent(spec, x, y, membership, device=device, seed=seed, progress=progress)
        except (RuntimeError, NotImplementedError):
            used_concurrent = False
    if not used_concurrent:
        states = train_sequential(spec, x, y, membership, device=device, seed=seed, progress=progress)
    per_model = (time.perf_counter() - t0) / k
    if use_cache:
        from govkit.atomicio import write_atomic

        cached = {
            "states": states,
            "membership": torch.from_numpy(membership),
            "seconds_per_model": per_model,
            "concurrent": used_concurrent,
        }
        write_atomic(path, lambda fh: torch.save(cached, fh))
    return ReferenceSet(states, membership, per_model, used_concurrent, False)


def load_reference(spec: Any, state: dict[str, Any], device: str = "cpu") -> Any:
    model = _fresh(spec, device, 0)
    model.load_state_dict(state)
    model.eval()
    return model
