"""Where burned-in text is known to be, before any OCR.

* **Known PHI regions**: the ``%filter graylist`` rules of pydicom/deid's
  default recipe (``deid.dicom``, many of them taken from the RSNA CTP
  DicomPixelAnonymizer script) match a device by its header (Modality,
  Manufacturer, ManufacturerModelName, ImageType, SeriesDescription…) and
  give the rectangles where that device burns in patient data, such as the
  header band of an ultrasound scanner or a CT dose screen.  Those
  rectangles are always filled, whatever the OCR reads.
* **Clinical regions**: an ultrasound image's SequenceOfUltrasoundRegions
  (PS3.3 C.8.5.5) marks where the image data is.  Text outside every region
  is annotation, and :func:`govkit.deid.pixels.redact.clean_pixels` redacts it all
  (as under ``--pixel-policy all-text``); inside, the chosen policy applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from pydicom.dataset import Dataset

if TYPE_CHECKING:
    from deid.config import DeidRecipe


@dataclass(frozen=True)
class Rect:
    x0: int
    y0: int
    x1: int  # exclusive
    y1: int
    reason: str = ""

    def contains(self, x: float, y: float) -> bool:
        return self.x0 <= x < self.x1 and self.y0 <= y < self.y1


@lru_cache(maxsize=1)
def _recipe() -> DeidRecipe:
    from deid.config import DeidRecipe

    return DeidRecipe("dicom")


def known_phi_regions(ds: Dataset) -> list[Rect]:
    """Rectangles the deid recipe's graylist rules give for this device (may be empty)."""
    import contextlib
    import io

    from deid.dicom.pixels.detect import has_burned_pixels
    from deid.logger import bot
    from pydicom.dataset import FileDataset

    if not isinstance(ds, FileDataset):  # deid reads anything else from disk
        ds = FileDataset("", ds, preamble=b"\0" * 128, file_meta=getattr(ds, "file_meta", None))
    bot.level = 0
    with contextlib.redirect_stdout(io.StringIO()):
        found = has_burned_pixels(ds, deid=_recipe())
    rects: list[Rect] = []
    for result in found.get("results", []):
        for value, coords in result.get("coordinates", []):
            if value != 0:  # keepcoordinates: not a region to remove
                continue
            for part in str(coords).split(";"):
                nums = [int(float(v)) for v in part.replace(" ", "").split(",") if v]
                if len(nums) == 4:
                    x0, y0, x1, y1 = nums
                    rects.append(Rect(x0, y0, x1, y1, reason=result.get("reason", "").strip()[:120]))
    return rects


def clinical_regions(ds: Dataset) -> list[Rect]:
    """The image-data rectangles of SequenceOfUltrasoundRegions (empty when absent)."""
    rects: list[Rect] = []
    for item in ds.get("SequenceOfUltrasoundRegions", None) or ():
        try:
            rects.append(
                Rect(
                    int(item.RegionLocationMinX0),
                    int(item.RegionLocationMinY0),
                    int(item.RegionLocationMaxX1) + 1,
                    int(item.RegionLocationMaxY1) + 1,
                    "SequenceOfUltrasoundRegions",
                )
            )
        except AttributeError:
            continue
    return rects
