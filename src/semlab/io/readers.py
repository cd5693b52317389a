"""Reading and writing micrographs and stacks."""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from semlab._util import atomic_path, check_pixel_size
from semlab.errors import FileFormatError, MetadataWarning, MissingFileError, ParameterError
from semlab.io.limits import check_decoded_size, decoded_size, max_decoded_bytes, quiet_tifffile
from semlab.io.metadata import _positive as _positive_or_none
from semlab.io.metadata import jsonable, parse_fei, parse_imagej, parse_zeiss, unit_to_um
from semlab.io.micrograph import Micrograph, Volume

TIFF_SUFFIXES = {".tif", ".tiff"}
PIL_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp"}
#: File suffixes :func:`read_micrograph` accepts.
IMAGE_SUFFIXES = TIFF_SUFFIXES | PIL_SUFFIXES

_SUMMARY_KEYS = (
    "vendor",
    "instrument",
    "accelerating_voltage_kv",
    "magnification",
    "working_distance_mm",
    "detector",
)


def _check_pixel_size(pixel_size: float | None, name: str = "pixel_size") -> float | None:
    return None if pixel_size is None else check_pixel_size(pixel_size, name)


def _existing(path: str | os.PathLike) -> Path:
    p = Path(path)
    if not p.exists():
        raise MissingFileError(f"{p}: no such file; check the path")
    return p


def _to_grey(array: np.ndarray, axes: str, source: str) -> np.ndarray:
    """Reduce an image with colour samples to 2-D, keeping the native dtype."""
    if array.ndim == 2:
        return array
    if array.ndim == 3:
        if axes.endswith("S") or (array.shape[-1] in (3, 4) and array.shape[0] not in (3, 4)):
            rgb = array[..., :3]
        elif axes.startswith("S") or array.shape[0] in (3, 4):
            rgb = np.moveaxis(array[:3], 0, -1)
        else:
            raise FileFormatError(f"{source}: image has shape {array.shape}; expected a 2-D grey image")
        if rgb.shape[-1] == 1:
            return rgb[..., 0]
        r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
        if np.array_equal(r, g) and np.array_equal(g, b):
            return np.ascontiguousarray(r)
        warnings.warn(
            f"{source}: colour image converted to grey (luminance); SEM analysis uses one channel",
            MetadataWarning,
            stacklevel=3,
        )
        grey = 0.2126 * r.astype(np.float64) + 0.7152 * g + 0.0722 * b
        if np.issubdtype(array.dtype, np.integer):
            grey = np.clip(np.rint(grey), np.iinfo(array.dtype).min, np.iinfo(array.dtype).max)
        return grey.astype(array.dtype)
    raise FileFormatError(f"{source}: image has shape {array.shape}; expected a 2-D grey image")


def _tiff_metadata(
    tif: Any, page: Any, source: str, height: int
) -> tuple[float | None, dict, str | None, dict]:
    """(pixel size µm, summary, pixel-size source, raw) for one TIFF page."""
    if tif.is_imagej or tif.imagej_metadata:
        ij = tif.imagej_metadata or {}
        xres = page.tags.get("XResolution")
        pixel, summary = parse_imagej(ij, xres.value if xres else None)
        origin = "semlab" if summary.pop("_semlab", False) else "imagej"
        raw = {k: v for k, v in ij.items() if k != "Info" or origin == "imagej"}
        return pixel, summary, origin if pixel is not None else None, raw
    fei = None
    try:
        fei = tif.fei_metadata
    except Exception:  # tifffile may fail on malformed FEI blocks
        fei = None
    if fei:
        pixel, summary = parse_fei(fei, source, height)
        return pixel, summary, "fei" if pixel is not None else None, fei
    sem = None
    try:
        sem = tif.sem_metadata
    except Exception:
        sem = None
    if sem:
        pixel, summary = parse_zeiss(sem, source)
        return pixel, summary, "zeiss" if pixel is not None else None, sem
    return None, {}, None, {}


def _read_tiff(path: Path, page: int) -> tuple[np.ndarray, float | None, dict, str | None, dict]:
    import tifffile

    source = str(path)
    try:
        with quiet_tifffile(), tifffile.TiffFile(path) as tif:
            n = len(tif.pages)
            if n == 0:
                raise FileFormatError(f"{source}: TIFF holds no image pages; is the file complete?")
            if not -n <= page < n:
                raise ParameterError(
                    f"{source}: page={page} is out of range; the file has {n} page(s) (0…{n - 1})"
                )
            tp = tif.pages[page]
            array = tp.asarray()
            image = _to_grey(np.asarray(array), getattr(tp, "axes", ""), source)
            pixel, summary, origin, raw = _tiff_metadata(tif, tp, source, image.shape[0])
            summary["pages"] = n
    except (ParameterError, FileFormatError):
        raise
    except Exception as exc:  # tifffile raises many types on corrupt files
        raise FileFormatError(f"{source}: cannot read as TIFF ({exc}); is the file complete?") from None
    return image, pixel, summary, origin, raw


def _read_pil(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    source = str(path)
    guard = Image.MAX_IMAGE_PIXELS
    # semlab's own limit (checked from the header) governs; PIL's bomb guard stays as a backstop
    # at twice it, and does not warn below it (pixels <= decoded bytes).
    Image.MAX_IMAGE_PIXELS = max(max_decoded_bytes(), guard or 0)
    try:
        with Image.open(path) as opened:
            opened.load()
            im: Image.Image = opened
            mode = im.mode
            if mode == "P" or mode == "PA":
                im = im.convert("RGBA" if "transparency" in im.info else "RGB")
            elif mode in ("LA",):
                im = im.convert("L")
            elif mode == "1":
                im = im.convert("L")
            array = np.asarray(im)
    except Image.DecompressionBombError as exc:
        raise FileFormatError(f"{source}: refused as a decompression bomb ({exc})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise FileFormatError(f"{source}: cannot read as an image ({exc}); is the file complete?") from None
    finally:
        Image.MAX_IMAGE_PIXELS = guard
    if array.dtype == np.int32 and mode.startswith("I;16"):
        array = array.astype(np.uint16)
    return _to_grey(array, "YXS" if array.ndim == 3 else "YX", source)


def read_micrograph(path: str | os.PathLike, *, pixel_size: float | None = None, page: int = 0) -> Micrograph:
    """Read a 2-D SEM image and its pixel size.

    Parameters
    ----------
    path : str or Path
        TIFF (8/16-bit, any compression tifffile and imagecodecs decode, multipage), PNG,
        JPEG or BMP.
    pixel_size : float, optional
        Pixel size in µm per pixel.  Overrides whatever the file says (the file's value is
        kept in ``metadata["pixel_size_file_um"]``).
    page : int, default 0
        Page of a multipage TIFF.

    Returns
    -------
    Micrograph
        ``image`` is (M, N) in the file's dtype; RGB images whose channels are equal
        become 2-D, true colour is converted to luminance with a warning.
        ``pixel_size`` is in µm, from the user, FEI/Thermo ``[Scan] PixelWidth``, Zeiss
        ``ap_image_pixel_size`` or ImageJ calibration, else ``None``.

    Raises
    ------
    MissingFileError, FileFormatError, ParameterError

    Examples
    --------
    >>> from semlab.io import read_micrograph
    >>> m = read_micrograph("../shared/data/sem-metadata/test_tiff_Zeiss_SEM_1k.tif")  # doctest: +SKIP
    >>> m.pixel_size, m.metadata["vendor"]  # doctest: +SKIP
    (2.615, 'Zeiss')
    """
    user = _check_pixel_size(pixel_size)
    p = _existing(path)
    if p.is_dir():
        raise FileFormatError(
            f"{p}: is a folder; give an image file (use read_volume for a folder of slices)"
        )
    suffix = p.suffix.lower()
    if suffix in IMAGE_SUFFIXES:  # from the header, before any pixel is decoded
        check_decoded_size(p, page=page)
    if suffix in TIFF_SUFFIXES:
        image, file_pixel, summary, origin, raw = _read_tiff(p, page)
    elif suffix in PIL_SUFFIXES:
        if page != 0:
            raise ParameterError(f"{p}: page={page} given, but {suffix} files have a single page")
        image = _read_pil(p)
        file_pixel, summary, origin, raw = None, {}, None, {}
    else:
        raise FileFormatError(
            f"{p}: unsupported file type {suffix!r}; use one of {', '.join(sorted(IMAGE_SUFFIXES))}"
        )
    if image.ndim != 2 or min(image.shape) < 1:
        raise FileFormatError(f"{p}: image has shape {image.shape}; expected a non-empty 2-D image")

    metadata: dict[str, Any] = {key: summary.get(key) for key in _SUMMARY_KEYS}
    metadata.update({k: v for k, v in summary.items() if k not in metadata})
    if file_pixel is None:  # no pixel-size tag: the stated field width over the image width
        hfw = metadata.get("horizontal_field_width_um")
        if isinstance(hfw, int | float) and not isinstance(hfw, bool) and math.isfinite(hfw) and hfw > 0:
            file_pixel, origin = float(hfw) / int(image.shape[1]), "field_width"
    if user is not None:
        metadata["pixel_size_source"] = "user"
        if file_pixel is not None:
            metadata["pixel_size_file_um"] = file_pixel
    else:
        metadata["pixel_size_source"] = origin
    metadata["raw"] = jsonable(raw)
    return Micrograph(
        image=image,
        pixel_size=user if user is not None else file_pixel,
        metadata=jsonable(metadata),
        source=str(p),
    )


def read_volume(path: str | os.PathLike, *, voxel_size: float | tuple[float, ...] | None = None) -> Volume:
    """Read a 3-D stack: a multipage TIFF or a folder of 2-D slices (sorted by name).

    Parameters
    ----------
    path : str or Path
        Multipage TIFF (ImageJ hyperstacks included) or a folder of TIFF/PNG slices.
    voxel_size : float or (3,) tuple of float, optional
        Voxel size in µm along (slice, row, column); a single float means isotropic.
        Overrides the file's calibration.

    Returns
    -------
    Volume
        ``data`` is (P, M, N) in the native dtype; ``voxel_size`` in µm or ``None``.
    """
    import tifffile

    p = _existing(path)
    if voxel_size is not None:
        sizes: tuple[Any, ...] = (voxel_size,) * 3
        if isinstance(voxel_size, Iterable) and not isinstance(voxel_size, str):
            sizes = tuple(voxel_size)
        if len(sizes) != 3:
            raise ParameterError(
                f"voxel_size={voxel_size!r} must be one number or three (slice, row, column)"
            )
        z, r, c = (check_pixel_size(s, "voxel_size") for s in sizes)
        user: tuple[float, float, float] | None = (z, r, c)
    else:
        user = None

    metadata: dict[str, Any] = {}
    file_voxel = None
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise FileFormatError(f"{p}: folder holds no image slices ({', '.join(sorted(IMAGE_SUFFIXES))})")
        _check_total(p, files)
        slices = [read_micrograph(f) for f in files]
        shapes = {s.image.shape for s in slices}
        if len(shapes) != 1:
            raise FileFormatError(f"{p}: slices differ in shape {sorted(shapes)}; all slices must match")
        data = np.stack([s.image for s in slices])
        px = slices[0].pixel_size
        if px is not None:
            file_voxel = (px, px, px)
            metadata["voxel_size_note"] = "slice spacing assumed equal to the in-plane pixel size"
        metadata.update({k: slices[0].metadata.get(k) for k in _SUMMARY_KEYS})
    else:
        check_decoded_size(p)
        try:
            with quiet_tifffile(), tifffile.TiffFile(p) as tif:
                data = tif.asarray()
                ij = tif.imagej_metadata or {}
                page = tif.pages[0]
                if ij and isinstance(page, tifffile.TiffPage):  # the first page is never a TiffFrame
                    xres = page.tags.get("XResolution")
                    pixel, _ = parse_imagej(ij, xres.value if xres else None)
                    if pixel is not None:
                        # ImageJ 'spacing' is the slice distance in the calibration unit.
                        spacing = _positive_or_none(ij.get("spacing"))
                        factor = unit_to_um(str(ij.get("unit")))
                        z = spacing * factor if spacing and factor else pixel
                        file_voxel = (z, pixel, pixel)
        except Exception as exc:
            raise FileFormatError(
                f"{p}: cannot read as a TIFF stack ({exc}); is the file complete?"
            ) from None
        data = np.squeeze(data)
        if data.ndim == 4 and data.shape[-1] in (3, 4):
            data = np.stack([_to_grey(s, "YXS", str(p)) for s in data])
        if data.ndim != 3:
            raise FileFormatError(f"{p}: stack has shape {data.shape}; expected (slices, rows, columns)")
    metadata["voxel_size_source"] = "user" if user else ("file" if file_voxel else None)
    return Volume(data=data, voxel_size=user or file_voxel, metadata=jsonable(metadata), source=str(p))


def _check_total(folder: Path, files: list[Path]) -> None:
    """Refuse a folder of slices whose decoded total is over the decoded-size limit."""
    cap = max_decoded_bytes()
    total = 0
    for f in files:
        total += decoded_size(f, page=0)[0]
        if total > cap:
            raise FileFormatError(
                f"{folder}: the slices decode to more than {cap / 1024**2:.0f} MiB in all; use fewer slices, "
                "or raise the limit with SEMLAB_MAX_DECODED_BYTES (e.g. 4G) if you trust the files"
            )


def write_micrograph(
    path: str | os.PathLike,
    image: np.ndarray,
    *,
    pixel_size: float | None = None,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write a 2-D image as a TIFF that semlab, ImageJ and Fiji read with its scale.

    The pixel size goes into the ImageJ calibration (``unit=micron``, XResolution in
    pixels per µm); ``metadata`` (JSON-compatible) is kept in the ImageJ ``Info`` block and
    comes back from :func:`read_micrograph`.  The write is atomic.

    Parameters
    ----------
    path : str or Path
        Destination ``.tif``.
    image : (M, N) ndarray
        uint8, uint16 or float32 grey image.
    pixel_size : float, optional
        µm per pixel.
    metadata : dict, optional
        Extra JSON-compatible fields (vendor, instrument, sample …).
    """
    import tifffile

    image = np.asarray(image)
    if image.ndim != 2:
        raise ParameterError(f"image has shape {image.shape}; write_micrograph takes a 2-D image")
    px = _check_pixel_size(pixel_size)
    if image.dtype not in (np.uint8, np.uint16, np.float32):
        raise ParameterError(f"image dtype {image.dtype} is not uint8, uint16 or float32; convert it first")
    info = {"writer": "semlab", "vendor": "semlab", **(jsonable(metadata) if metadata else {})}
    ij_meta: dict[str, Any] = {"Info": json.dumps(info)}
    kwargs: dict[str, Any] = {}
    if px is not None:
        ij_meta["unit"] = "micron"
        kwargs["resolution"] = (1.0 / px, 1.0 / px)
    target = Path(path)
    with atomic_path(target) as tmp:
        tifffile.imwrite(tmp, image, imagej=True, metadata=ij_meta, compression="zlib", **kwargs)
    return target
