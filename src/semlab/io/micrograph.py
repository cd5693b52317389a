"""The :class:`Micrograph` and :class:`Volume` containers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True, eq=False)
class Micrograph:
    """A 2-D electron micrograph with its physical scale and vendor metadata.

    Attributes
    ----------
    image : (M, N) ndarray
        Grey values in the file's native dtype (``uint8``, ``uint16``, ``float32`` …).
    pixel_size : float or None
        Pixel size in µm per pixel, or ``None`` when the file does not say and the user
        gave none; lengths derived from a ``None`` pixel size are in pixels.
    metadata : dict
        JSON-compatible summary: ``vendor``, ``instrument``, ``accelerating_voltage_kv``,
        ``magnification``, ``working_distance_mm``, ``detector``, ``pixel_size_source``
        (``"user"``, ``"fei"``, ``"zeiss"``, ``"imagej"``, ``"semlab"`` or ``None``) where
        present, plus ``raw`` (the vendor's own key/value pairs).
    source : str or None
        The path the image was read from.
    """

    image: np.ndarray
    pixel_size: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str | None = None

    @property
    def shape(self) -> tuple[int, int]:
        """Image shape in pixels, (rows, columns)."""
        return self.image.shape

    @property
    def field_of_view(self) -> tuple[float, float] | None:
        """Image height and width in µm, or ``None`` when the pixel size is unknown."""
        if self.pixel_size is None:
            return None
        return (self.image.shape[0] * self.pixel_size, self.image.shape[1] * self.pixel_size)

    def to_dict(self) -> dict[str, Any]:
        """Everything but the pixels, JSON-compatible (``raw`` metadata left out)."""
        meta = {k: v for k, v in self.metadata.items() if k != "raw"}
        return {
            "source": self.source,
            "shape": list(self.image.shape),
            "dtype": str(self.image.dtype),
            "pixel_size_um": self.pixel_size,
            **meta,
        }


@dataclass(frozen=True, eq=False)
class Volume:
    """A 3-D image stack (FIB-SEM, tomography) with its voxel size.

    Attributes
    ----------
    data : (P, M, N) ndarray
        Slices along the first axis, native dtype.
    voxel_size : tuple of 3 floats or None
        Voxel size in µm per voxel along (slice, row, column), or ``None`` when unknown.
    metadata : dict
        JSON-compatible metadata (as for :class:`Micrograph`).
    source : str or None
        The file or folder the stack was read from.
    """

    data: np.ndarray
    voxel_size: tuple[float, float, float] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        """Stack shape in voxels, (slices, rows, columns)."""
        return self.data.shape

    def to_dict(self) -> dict[str, Any]:
        """Everything but the voxels, JSON-compatible."""
        meta = {k: v for k, v in self.metadata.items() if k != "raw"}
        return {
            "source": self.source,
            "shape": list(self.data.shape),
            "dtype": str(self.data.dtype),
            "voxel_size_um": list(self.voxel_size) if self.voxel_size else None,
            **meta,
        }
