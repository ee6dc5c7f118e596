"""Build a model from its spec without ever unpickling arbitrary objects.

* ``artifact``: a TorchScript archive, loaded with ``torch.jit.load``.
* ``entrypoint`` + ``weights``: the factory builds an untrained ``nn.Module``
  and the state_dict is read with ``torch.load(weights_only=True)``.

The result is wrapped in :class:`ImageModel`, which takes images in
``[0, 1]`` and applies the spec's normalisation inside the model, so
attacks and attributions operate in image space.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from govkit.errors import BadInput
from govkit.models.spec import InputSpec, ModelSpec

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)


def _import_factory(entrypoint: str, base_dir: Path) -> Callable[[], object]:
    target, _, func = entrypoint.rpartition(":")
    if target.endswith(".py"):
        path = (base_dir / target).resolve()
        if not path.is_file():
            raise BadInput(f"entrypoint file {target} not found")
        mod_name = f"govkit_user_{abs(hash(str(path)))}"
        module = sys.modules.get(mod_name)
        if module is None:
            spec = importlib.util.spec_from_file_location(mod_name, path)
            if spec is None or spec.loader is None:  # never for a .py path (SourceFileLoader)
                raise BadInput(f"entrypoint file {target} cannot be imported as a Python module")
            module = importlib.util.module_from_spec(spec)
            sys.modules[mod_name] = module
            try:
                spec.loader.exec_module(module)
            except (Exception, SystemExit) as exc:  # user code: anything may come out
                log.debug("entrypoint %s failed to import", target, exc_info=True)
                del sys.modules[mod_name]
                raise BadInput(f"entrypoint {target} failed to import: {_why(exc)}") from None
    else:
        try:
            module = importlib.import_module(target)
        except (Exception, SystemExit) as exc:
            log.debug("entrypoint module %s failed to import", target, exc_info=True)
            raise BadInput(f"entrypoint module {target!r} cannot be imported: {_why(exc)}") from None
    factory: object = getattr(module, func, None)
    if not callable(factory):
        raise BadInput(f"entrypoint {entrypoint!r}: {func!r} is not a function in {target}")
    return factory


def _why(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"it called exit({exc.code!r})"
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")


def load_state_dict(path: Path, map_location: str = "cpu") -> dict[str, torch.Tensor]:
    """A plain state dict (names to tensors) read with ``torch.load(weights_only=True)``; anything else is refused."""
    import torch

    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # pickle errors come in many types
        log.debug("torch.load(%s, weights_only=True) failed", path, exc_info=True)
        raise BadInput(f"cannot load weights {path} safely: {str(exc).splitlines()[0]}") from None
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise BadInput(f"weights {path} is not a plain state dict (parameter names to tensors)")
    return state


def build_network(spec: ModelSpec) -> torch.nn.Module:
    """The untrained network from the spec's factory (entrypoint specs only)."""
    import torch

    if spec.entrypoint is None:  # callers check first: a TorchScript artifact has no factory
        raise BadInput(
            f"{spec.ref}: only an entrypoint spec can build its network (this one is a TorchScript artifact)"
        )
    factory = _import_factory(spec.entrypoint, spec.base_dir)
    try:
        net = factory()
    except (Exception, SystemExit) as exc:
        log.debug("entrypoint %s failed", spec.entrypoint, exc_info=True)
        raise BadInput(f"entrypoint {spec.entrypoint!r} failed: {_why(exc)}") from None
    if not isinstance(net, torch.nn.Module):
        raise BadInput(f"entrypoint {spec.entrypoint!r} returned {type(net).__name__}, not a torch.nn.Module")
    return net


def load_network(spec: ModelSpec, map_location: str = "cpu") -> torch.nn.Module:
    """The trained network (without normalisation)."""
    import torch

    if spec.artifact is not None:
        try:
            return torch.jit.load(str(spec.artifact), map_location=map_location)
        except (RuntimeError, ValueError) as exc:
            raise BadInput(f"{spec.artifact} is not a TorchScript archive: {str(exc).splitlines()[0]}") from None
    net = build_network(spec)
    if spec.weights is None:  # parse_spec requires them with an entrypoint
        raise BadInput(f"{spec.ref}: an entrypoint spec needs 'weights'")
    state = load_state_dict(spec.weights, map_location)
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        raise BadInput(f"weights {spec.weights} do not fit the network: {str(exc).splitlines()[0]}") from None
    return net


@functools.lru_cache(maxsize=1)
def _image_model_class() -> type[torch.nn.Module]:
    """One ``ImageModel`` class per process (``torch.func`` stacking needs a shared class)."""
    import torch

    class ImageModel(torch.nn.Module):
        """Image-space model: ``logits = net((x - mean) / std)``."""

        mean: torch.Tensor  # buffers, registered in __init__
        std: torch.Tensor

        def __init__(self, net: torch.nn.Module, mean: torch.Tensor, std: torch.Tensor) -> None:
            super().__init__()
            self.net = net
            self.register_buffer("mean", mean)
            self.register_buffer("std", std)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net((x - self.mean) / self.std)

    return ImageModel


def make_wrapper(net: torch.nn.Module, spec: ModelSpec | InputSpec) -> torch.nn.Module:
    """Wrap ``net`` so it takes images in [0, 1] and normalises internally."""
    import torch

    inp = spec.input if isinstance(spec, ModelSpec) else spec
    c = inp.channels
    mean = torch.tensor(inp.mean or [0.0] * c).view(1, c, 1, 1)
    std = torch.tensor(inp.std or [1.0] * c).view(1, c, 1, 1)
    return _image_model_class()(net, mean, std)


def load_model(spec: ModelSpec, device: str = "cpu") -> torch.nn.Module:
    """The wrapped, trained model in eval mode on ``device``."""
    model = make_wrapper(load_network(spec), spec).to(device)
    model.eval()
    return model
