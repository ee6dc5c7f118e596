"""Datasets in the two forms every command accepts, streamed in batches.

* **NPZ** with ``x`` (float32, N×C×H×W in [0, 1]), ``y`` (int64, N) and
  optionally ``patient_id``, ``mask`` (N×H×W) and ``group_<name>`` arrays.
  Uncompressed members are memory-mapped, so images are never all in memory.
* **CSV manifest** with columns ``path`` (DICOM, PNG or NPY, relative to the
  CSV) and ``label``, optionally ``patient_id``, ``mask_path`` and
  ``group_<name>``.  DICOM pixels go through the Modality LUT, then the
  spec's window (``input.dicom``: ``window_center``/``window_width``) or the
  file's VOI LUT, and are scaled to [0, 1].

Problems are :class:`~govkit.errors.BadInput` with one clear line: a missing
file, a wrong shape, a label outside ``classes``, a NaN.
"""

from __future__ import annotations

import csv
import hashlib
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from numpy.typing import NDArray

from govkit.errors import BadInput

if TYPE_CHECKING:
    from _hashlib import HASH

    from torch.utils.data import DataLoader

    from govkit.models.spec import ModelSpec

#: Row indices into a dataset.
Indices = Sequence[int] | NDArray[np.integer[Any]]
#: A batch as :meth:`ImageData.batches` yields it: row indices and images N×C×H×W.
Batch = tuple[NDArray[np.intp], NDArray[np.float32]]


class _Rows(Protocol):
    """Images or masks read row by row: an array, a ``np.memmap`` or an :class:`_Indexed` view of one."""

    @property
    def shape(self) -> tuple[int, ...]: ...

    def __getitem__(self, i: Any) -> NDArray[Any]: ...


def _npz_member(path: Path, zf: zipfile.ZipFile, name: str) -> NDArray[Any]:
    """Memory-map an uncompressed .npy member of a .npz; load it otherwise."""
    info = zf.getinfo(name + ".npy")
    if info.compress_type == zipfile.ZIP_STORED:
        with open(path, "rb") as fh:
            fh.seek(info.header_offset)
            local = fh.read(30)
            n_name, n_extra = int.from_bytes(local[26:28], "little"), int.from_bytes(local[28:30], "little")
            start = info.header_offset + 30 + n_name + n_extra
            fh.seek(start)
            version = np.lib.format.read_magic(fh)
            read_header = (
                np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            )
            shape, fortran, dtype = read_header(fh)
            offset = fh.tell()
        if dtype.hasobject:
            raise BadInput(f"{path}: member {name!r} holds Python objects (refused)")
        return np.memmap(path, dtype=dtype, mode="r", shape=shape, order="F" if fortran else "C", offset=offset)
    with zf.open(info) as fh:
        return np.lib.format.read_array(fh, allow_pickle=False)


@dataclass
class ImageData:
    """A dataset: labels and metadata in memory, images read on demand."""

    source: Path
    labels: NDArray[np.int64]
    patient_id: NDArray[Any] | None
    groups: dict[str, NDArray[Any]]
    _x: _Rows | None = field(repr=False, default=None)  # array-like (memmap) for NPZ
    _masks: _Rows | None = field(repr=False, default=None)
    _paths: list[Path] | None = field(repr=False, default=None)
    _mask_paths: list[Path | None] | None = field(repr=False, default=None)
    dicom_window: dict[str, float] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def paths(self) -> list[Path] | None:
        """The image files of a CSV manifest, in row order (None for an NPZ)."""
        return None if self._paths is None else list(self._paths)

    @property
    def has_masks(self) -> bool:
        return self._masks is not None or bool(self._mask_paths and any(self._mask_paths))

    def image(self, i: int) -> NDArray[np.float32]:
        if self._x is not None:
            return np.asarray(self._x[i], dtype=np.float32)
        if self._paths is None:
            raise RuntimeError(f"{self.source}: an ImageData holds arrays (NPZ) or image files (CSV), and has neither")
        return read_image(self._paths[i], self.dicom_window)

    def images(self, idx: Indices) -> NDArray[np.float32]:
        """A batch of images (C×H×W each) by index."""
        idx = np.asarray(idx)
        if self._x is not None:
            order = np.argsort(idx)
            out = np.empty((len(idx), *self._x.shape[1:]), dtype=np.float32)
            out[order] = np.asarray(self._x[idx[order]], dtype=np.float32)
            return out
        return np.stack([self.image(int(i)) for i in idx])

    def mask(self, i: int) -> NDArray[np.bool_] | None:
        if self._masks is not None:
            return np.asarray(self._masks[i]) > 0
        mask_path = self._mask_paths[i] if self._mask_paths else None
        if mask_path is not None:
            return read_image(mask_path, {})[0] > 0
        return None

    def masks(self, idx: Indices) -> NDArray[np.bool_]:
        found = []
        for i in idx:
            m = self.mask(int(i))
            if m is None:
                raise BadInput(f"{self.source}: image {int(i)} has no mask (give every row a mask_path, or none)")
            found.append(m)
        return np.stack(found)

    def subset(self, idx: Indices) -> ImageData:
        idx = np.asarray(idx)
        return ImageData(
            source=self.source,
            labels=self.labels[idx],
            patient_id=None if self.patient_id is None else self.patient_id[idx],
            groups={k: v[idx] for k, v in self.groups.items()},
            _x=_Indexed(self._x, idx) if self._x is not None else None,
            _masks=_Indexed(self._masks, idx) if self._masks is not None else None,
            _paths=[self._paths[i] for i in idx] if self._paths is not None else None,
            _mask_paths=[self._mask_paths[i] for i in idx] if self._mask_paths is not None else None,
            dicom_window=self.dicom_window,
        )

    def batches(self, batch_size: int, workers: int = 0) -> Iterator[Batch]:
        """Yield (indices, images) in order, ``batch_size`` at a time.

        A torch ``DataLoader`` reads the batches, with ``workers`` processes
        decoding files in parallel (CSV manifests of DICOM or PNG files).
        """
        from torch.utils.data import DataLoader

        # _BatchView is map-style (torch needs only __len__ and __getitem__), but torch annotates Dataset
        loader: DataLoader[Batch] = DataLoader(
            _BatchView(self, batch_size),  # type: ignore[arg-type]
            batch_size=None,
            num_workers=workers,
            persistent_workers=False,
            collate_fn=lambda b: b,
        )
        for idx, x in loader:
            if not np.isfinite(x).all():
                bad = int(idx[np.nonzero(~np.isfinite(x.reshape(len(idx), -1)).all(axis=1))[0][0]])
                raise BadInput(f"{self.source}: image {bad} contains NaN or infinite values")
            yield idx, x

    def content_sha256(self) -> str:
        h = hashlib.sha256()
        _hash_file(h, self.source)
        for p in (self._paths or []) + [m for m in (self._mask_paths or []) if m]:
            _hash_file(h, p)
        return h.hexdigest()

    def validate(self, spec: ModelSpec) -> None:
        """Check shape and labels against a model spec."""
        want = (spec.input.channels, spec.input.height, spec.input.width)
        got = tuple(self.image(0).shape) if len(self) else want
        if got != want:
            raise BadInput(f"{self.source}: images are {got} (C, H, W) but the model expects {want}")
        if len(self) and (self.labels.min() < 0 or self.labels.max() >= spec.n_classes):
            raise BadInput(
                f"{self.source}: labels must be 0..{spec.n_classes - 1} for classes {list(spec.classes)}; "
                f"found {int(self.labels.min())}..{int(self.labels.max())}"
            )


class _BatchView:
    """Map-style view whose items are whole batches (one read per batch)."""

    def __init__(self, data: ImageData, batch_size: int) -> None:
        self.data, self.batch_size = data, batch_size

    def __len__(self) -> int:
        return -(-len(self.data) // self.batch_size)

    def __getitem__(self, b: int) -> Batch:
        idx = np.arange(b * self.batch_size, min((b + 1) * self.batch_size, len(self.data)))
        return idx, self.data.images(idx)


class _Indexed:
    """A lazy view ``base[idx]`` that keeps memory-mapping intact."""

    def __init__(self, base: _Rows, idx: Indices) -> None:
        self.base, self.idx = base, np.asarray(idx)
        self.shape = (len(self.idx), *base.shape[1:])

    def __getitem__(self, i: Any) -> NDArray[Any]:
        return self.base[self.idx[i]]


def _hash_file(h: HASH, path: Path) -> None:
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)


def read_image(path: Path, window: dict[str, float]) -> NDArray[np.float32]:
    """One image as float32 C×H×W in [0, 1]."""
    if not path.is_file():
        raise BadInput(f"image file {path} not found")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        arr = np.load(path, allow_pickle=False).astype(np.float32)
        arr = arr[None] if arr.ndim == 2 else arr
    elif suffix == ".png":
        from PIL import Image

        with Image.open(path) as im:
            a = np.asarray(im)
        scale = 65535.0 if a.dtype == np.uint16 else 255.0
        a = a.astype(np.float32) / scale
        arr = a[None] if a.ndim == 2 else np.moveaxis(a, -1, 0)
    else:
        arr = _read_dicom(path, window)
    return arr


def _read_dicom(path: Path, window: dict[str, float]) -> NDArray[np.float32]:
    import pydicom
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    try:
        ds = pydicom.dcmread(path)
        px = ds.pixel_array
    except Exception as exc:  # noqa: BLE001
        raise BadInput(f"cannot read DICOM pixels of {path}: {type(exc).__name__}") from None
    if ds.get("SamplesPerPixel", 1) == 3:
        return np.moveaxis(px.astype(np.float32) / 255.0, -1, 0)
    hu = apply_modality_lut(px, ds).astype(np.float32)
    if "window_center" in window:
        c, w = float(window["window_center"]), float(window["window_width"])
        lo, hi = c - w / 2, c + w / 2
    elif "WindowCenter" in ds:
        voi = apply_voi_lut(hu, ds).astype(np.float32)
        lo, hi = float(voi.min()), float(voi.max())
        hu = voi
    else:
        lo, hi = float(hu.min()), float(hu.max())
    out = np.clip((hu - lo) / max(hi - lo, 1e-6), 0.0, 1.0)
    if ds.get("PhotometricInterpretation") == "MONOCHROME1":
        out = 1.0 - out
    return out[None].astype(np.float32)


def open_dataset(path: str | Path, dicom_window: dict[str, float] | None = None) -> ImageData:
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"dataset {path} not found")
    if path.suffix.lower() == ".npz":
        return _open_npz(path)
    if path.suffix.lower() == ".csv":
        return _open_csv(path, dicom_window or {})
    raise BadInput(f"dataset {path}: expected an .npz file or a .csv manifest")


def _open_npz(path: Path) -> ImageData:
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise BadInput(f"{path} is not a valid .npz file") from None
    with zf:
        names = {n[:-4] for n in zf.namelist() if n.endswith(".npy")}
        for need in ("x", "y"):
            if need not in names:
                raise BadInput(f"{path}: missing array {need!r}")
        x = _npz_member(path, zf, "x")
        y = np.asarray(_npz_member(path, zf, "y"))
        if x.ndim != 4:
            raise BadInput(f"{path}: 'x' must be N×C×H×W, got shape {x.shape}")
        if len(y) != len(x) or y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
            raise BadInput(f"{path}: 'y' must be an integer array of length {len(x)}")
        pid = np.asarray(_npz_member(path, zf, "patient_id")) if "patient_id" in names else None
        masks = _npz_member(path, zf, "mask") if "mask" in names else None
        if masks is not None and tuple(masks.shape) != (len(x), *x.shape[2:]):
            raise BadInput(f"{path}: 'mask' must be N×H×W = {(len(x), *x.shape[2:])}, got {masks.shape}")
        groups = {n[6:]: np.asarray(_npz_member(path, zf, n)) for n in sorted(names) if n.startswith("group_")}
    for name, arr in [("patient_id", pid), *((f"group_{k}", v) for k, v in groups.items())]:
        if arr is not None and len(arr) != len(x):
            raise BadInput(f"{path}: {name!r} has {len(arr)} entries for {len(x)} images")
    return ImageData(path, y.astype(np.int64), pid, groups, _x=x, _masks=masks)


def _open_csv(path: Path, window: dict[str, float]) -> ImageData:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise BadInput(f"{path}: the manifest has no rows")
    for col in ("path", "label"):
        if col not in rows[0]:
            raise BadInput(f"{path}: missing column {col!r}")
    base = path.resolve().parent
    paths: list[Path] = []
    masks: list[Path | None] = []
    for i, r in enumerate(rows, start=2):
        p = (base / r["path"]).resolve()
        if not p.is_file():
            raise BadInput(f"{path} line {i}: image {r['path']} not found")
        paths.append(p)
        m = r.get("mask_path")
        masks.append((base / m).resolve() if m else None)
    try:
        labels = np.array([int(r["label"]) for r in rows], dtype=np.int64)
    except ValueError:
        raise BadInput(f"{path}: 'label' must hold integers (class indices)") from None
    pid = np.array([r["patient_id"] for r in rows]) if "patient_id" in rows[0] else None
    groups = {k[6:]: np.array([r[k] for r in rows]) for k in rows[0] if k.startswith("group_")}
    return ImageData(
        path, labels, pid, groups, _paths=paths, _mask_paths=masks if any(masks) else None, dicom_window=window
    )
