"""The model spec: a YAML file that says how to build, feed and train a model.

Keys (the interface scripts rely on)::

    name: lesion-cnn
    version: "1.0"
    classes: [benign, lesion]        # logits follow this order
    task: binary                     # or multiclass
    # exactly one way to build the model:
    artifact: model.pt               # a TorchScript archive, or
    entrypoint: lesion_model.py:build   # package.module:function or file.py:function
    weights: weights.pt              # a state_dict, loaded with weights_only=True
    input:
      channels: 1
      height: 64
      width: 64
      dicom: {window_center: 40, window_width: 400}   # optional: rescale + window
      mean: [0.5]                    # normalisation applied inside govkit's wrapper,
      std: [0.25]                    # so attacks work in image space [0, 1]
    train: {optimizer: adam, lr: 0.001, epochs: 5, batch_size: 64, weight_decay: 0.0, augment: false}
    card: {intended_use: ..., owners: [...], license: ...}
    tags: {risk_class: high}

Relative paths resolve against the spec file's folder.  A ``file.py``
entrypoint must lie inside that folder; a ``package.module`` entrypoint must
belong to an allow-listed installed package (:data:`ENTRYPOINT_PACKAGES`, plus
the comma-separated ``GOVKIT_ENTRYPOINT_PACKAGES``).  The registered code is
every ``.py`` file in the entrypoint file's folder (or the module's source
file), hashed file by file (:meth:`ModelSpec.code_files`).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from govkit.canonical import canonical_json
from govkit.errors import BadInput

TASKS = ("binary", "multiclass")
ENTRYPOINT_PACKAGES = ("torchvision", "timm", "monai")
ENV_ENTRYPOINT_PACKAGES = "GOVKIT_ENTRYPOINT_PACKAGES"
TRAIN_KEYS = {"optimizer", "lr", "epochs", "batch_size", "weight_decay", "augment"}


@dataclass(frozen=True)
class InputSpec:
    channels: int
    height: int
    width: int
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    dicom: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainSpec:
    optimizer: str = "adam"
    lr: float = 1e-3
    epochs: int = 5
    batch_size: int = 64
    weight_decay: float = 0.0
    augment: bool = False


@dataclass(frozen=True)
class ModelSpec:
    name: str
    version: str
    classes: tuple[str, ...]
    task: str
    input: InputSpec
    base_dir: Path
    artifact: Path | None = None
    entrypoint: str | None = None
    weights: Path | None = None
    train: TrainSpec | None = None
    card: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def artifact_files(self) -> list[Path]:
        return [p for p in (self.artifact, self.weights) if p is not None]

    def artifact_sha256(self) -> str:
        """SHA-256 over the artifact (TorchScript) or the weights file."""
        h = hashlib.sha256()
        for p in self.artifact_files():
            with open(p, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    h.update(chunk)
        return h.hexdigest()

    def spec_sha256(self) -> str:
        return hashlib.sha256(canonical_json(self.raw)).hexdigest()

    def code_files(self) -> dict[str, str]:
        """SHA-256 of every source file of the entrypoint, by path (empty for TorchScript)."""
        if self.entrypoint is None:
            return {}
        target = self.entrypoint.rpartition(":")[0]
        if target.endswith(".py"):
            folder = (self.base_dir / target).resolve().parent
            files = sorted(
                p
                for p in folder.rglob("*.py")
                if not any(part.startswith((".", "__pycache__")) for part in p.relative_to(folder).parts)
            )
            return {p.relative_to(self.base_dir).as_posix(): _file_sha256(p) for p in files}
        import importlib.util

        found = importlib.util.find_spec(target)
        if found is None or found.origin is None or not Path(found.origin).is_file():
            raise BadInput(f"entrypoint module {target!r} has no source file to register")
        return {f"module:{target}": _file_sha256(Path(found.origin))}

    def code_sha256(self) -> str | None:
        files = self.code_files()
        return hashlib.sha256(canonical_json(files)).hexdigest() if files else None

    def changed_file(self, artifact_sha256: str, code_files: dict[str, str] | None) -> str | None:
        """The first registered file that changed since registration (None when none did)."""
        if self.artifact_sha256() != artifact_sha256:
            return ", ".join(str(p) for p in self.artifact_files())
        if self.entrypoint is not None and code_files is None:
            return f"{self.entrypoint} (registered before govkit hashed entrypoint code; register a new version)"
        now = self.code_files()
        for name in sorted(set(now) | set(code_files or {})):
            if now.get(name) != (code_files or {}).get(name):
                return name if name in now else f"{name} (removed)"
        return None


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def allowed_entrypoint_packages() -> tuple[str, ...]:
    extra = [p.strip() for p in os.environ.get(ENV_ENTRYPOINT_PACKAGES, "").split(",") if p.strip()]
    return (*ENTRYPOINT_PACKAGES, *extra)


def _check_entrypoint(entrypoint: str, base_dir: Path, where: str) -> None:
    target, _, func = entrypoint.rpartition(":")
    if not target or not func.isidentifier():
        raise BadInput(f"{where}: entrypoint must be 'package.module:function' or 'file.py:function'")
    if target.endswith(".py"):
        path = Path(target)
        inside = (base_dir / path).resolve()
        if path.is_absolute() or ".." in path.parts or not inside.is_relative_to(base_dir.resolve()):
            raise BadInput(f"{where}: entrypoint file {target} must lie inside the spec's folder")
        if not inside.is_file():
            raise BadInput(f"{where}: entrypoint file {target} not found")
        return
    if target.split(".")[0] not in allowed_entrypoint_packages():
        raise BadInput(
            f"{where}: entrypoint module {target!r} is not in an allow-listed package "
            f"({', '.join(allowed_entrypoint_packages())}; extend with {ENV_ENTRYPOINT_PACKAGES}); "
            "put a file.py next to the spec instead"
        )


def _need(doc: dict, key: str, typ, where: str):
    if key not in doc:
        raise BadInput(f"{where}: missing required key {key!r}")
    value = doc[key]
    if not isinstance(value, typ):
        raise BadInput(f"{where}: {key!r} must be {getattr(typ, '__name__', typ)}")
    return value


def parse_spec(doc: Any, base_dir: Path, where: str = "model spec") -> ModelSpec:
    """Validate a spec mapping; every problem is a one-line :class:`BadInput`."""
    if not isinstance(doc, dict):
        raise BadInput(f"{where}: expected a mapping at the top level")
    name = str(_need(doc, "name", (str, int, float), where))
    version = str(_need(doc, "version", (str, int, float), where))
    classes = _need(doc, "classes", list, where)
    if len(classes) < 2 or len(set(map(str, classes))) != len(classes):
        raise BadInput(f"{where}: 'classes' needs at least two distinct names")
    task = _need(doc, "task", str, where)
    if task not in TASKS:
        raise BadInput(f"{where}: 'task' must be one of {', '.join(TASKS)}")
    if task == "binary" and len(classes) != 2:
        raise BadInput(f"{where}: a binary task has exactly two classes")
    ways = [k for k in ("artifact", "entrypoint") if doc.get(k)]
    if len(ways) != 1:
        raise BadInput(f"{where}: give exactly one of 'artifact' or 'entrypoint' + 'weights' (found {len(ways)})")
    artifact = entrypoint = weights = None
    if ways == ["artifact"]:
        if doc.get("weights"):
            raise BadInput(f"{where}: 'weights' goes with 'entrypoint', not with 'artifact'")
        artifact = _existing(base_dir, doc["artifact"], where, "artifact")
    else:
        entrypoint = str(doc["entrypoint"])
        _check_entrypoint(entrypoint, base_dir, where)
        weights = _existing(base_dir, _need(doc, "weights", str, where), where, "weights")
    inp = _need(doc, "input", dict, where)
    channels = int(_need(inp, "channels", int, f"{where} input"))
    mean = tuple(float(v) for v in inp.get("mean", ()))
    std = tuple(float(v) for v in inp.get("std", ()))
    if (mean or std) and (len(mean) != channels or len(std) != channels or any(s <= 0 for s in std)):
        raise BadInput(f"{where}: input.mean and input.std need one value per channel (std > 0)")
    input_spec = InputSpec(
        channels=channels,
        height=int(_need(inp, "height", int, f"{where} input")),
        width=int(_need(inp, "width", int, f"{where} input")),
        mean=mean,
        std=std,
        dicom=dict(inp.get("dicom") or {}),
    )
    train = None
    if doc.get("train") is not None:
        t = _need(doc, "train", dict, where)
        unknown = set(t) - TRAIN_KEYS
        if unknown:
            raise BadInput(f"{where}: unknown train keys {sorted(unknown)}")
        train = TrainSpec(**t)
    from govkit.models.card import validate_card

    card = validate_card(doc.get("card"), f"{where} card")
    return ModelSpec(
        name=name,
        version=version,
        classes=tuple(map(str, classes)),
        task=task,
        input=input_spec,
        base_dir=base_dir,
        artifact=artifact,
        entrypoint=entrypoint,
        weights=weights,
        train=train,
        card=card,
        tags=dict(doc.get("tags") or {}),
        raw=doc,
    )


def _existing(base: Path, rel: str, where: str, what: str) -> Path:
    p = (base / str(rel)).resolve()
    if not p.is_file():
        raise BadInput(f"{where}: {what} file {rel} not found (resolved to {p})")
    return p


def load_spec(path: str | Path) -> ModelSpec:
    from govkit.yamlio import load_file

    path = Path(path)
    doc = load_file(path, "spec")
    return parse_spec(doc, path.resolve().parent, str(path))
