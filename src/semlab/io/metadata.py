"""Vendor metadata → pixel size (µm) and a common summary.

Supported sources, in the order they are tried:

* semlab's own TIFFs (ImageJ calibration plus a JSON ``Info`` block);
* FEI / Thermo Fisher (``[Scan] PixelWidth`` in metres, tifffile's ``fei_metadata``);
* Zeiss SmartSEM (``ap_image_pixel_size`` with its own unit, tifffile's ``sem_metadata``);
* ImageJ calibration (``unit`` plus the ``XResolution`` tag in pixels per unit).

Generic TIFF resolution tags (72 or 96 dpi) describe a printer, not a microscope, and
are ignored.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from typing import Any

from semlab.errors import MetadataWarning

#: Length units → µm.
_UNIT_TO_UM = {
    "m": 1e6,
    "cm": 1e4,
    "mm": 1e3,
    "um": 1.0,
    "µm": 1.0,
    "μm": 1.0,  # Greek mu
    "micron": 1.0,
    "microns": 1.0,
    "micrometer": 1.0,
    "micrometre": 1.0,
    "nm": 1e-3,
    "nanometer": 1e-3,
    "nanometre": 1e-3,
    "pm": 1e-6,
    "a": 1e-4,
    "å": 1e-4,
    "angstrom": 1e-4,
}


def unit_to_um(unit: str) -> float | None:
    """Factor that converts a length in ``unit`` to µm, or ``None`` if unknown."""
    key = unit.strip().lower().replace("\\u00b5", "µ")
    return _UNIT_TO_UM.get(key)


def _number(value: Any) -> float | None:
    """``value`` as a finite float, or ``None`` (vendors write 'notafloat', '' …)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _positive(value: Any) -> float | None:
    x = _number(value)
    return x if x is not None and x > 0 else None


def jsonable(obj: Any) -> Any:
    """Vendor metadata (tuples, numpy scalars, bytes) as JSON data (:func:`semlab._util.to_jsonable`)."""
    from semlab._util import to_jsonable

    return to_jsonable(obj)


# --------------------------------------------------------------------------- FEI


def parse_fei(fei: dict[str, Any], source: str, height: int | None = None) -> tuple[float | None, dict]:
    """Pixel size (µm) and summary from FEI/Thermo ``fei_metadata`` sections."""
    scan = fei.get("Scan") or fei.get("EScan") or fei.get("IScan") or {}
    beam_name = (fei.get("Beam") or {}).get("Beam")
    beam = fei.get(beam_name) if isinstance(beam_name, str) and beam_name in fei else fei.get("EBeam", {})
    beam = beam or {}
    system = fei.get("System", {}) or {}
    image = fei.get("Image", {}) or {}
    det = fei.get("Detectors", {}) or {}

    pixel_m = _positive(scan.get("PixelWidth"))
    pixel_um = float(f"{pixel_m * 1e6:.12g}") if pixel_m is not None else None  # tidy m → µm
    if pixel_um is None:
        warnings.warn(
            f"{source}: FEI/Thermo metadata has no numeric [Scan] PixelWidth; pixel_size is None "
            "(pass pixel_size=... in µm to set it)",
            MetadataWarning,
            stacklevel=4,
        )

    hv = _number((fei.get("Beam") or {}).get("HV")) or _number(beam.get("HV"))
    wd = _number(beam.get("WD")) or _number((fei.get("Stage") or {}).get("WorkingDistance"))
    hfw = _positive(beam.get("HFW")) or _positive(scan.get("HorFieldsize"))
    canvas = _positive(image.get("MagCanvasRealWidth"))
    mag = canvas / hfw if canvas and hfw else None
    detector = " ".join(str(det[k]) for k in ("Name", "Mode") if det.get(k) not in (None, "", "None")) or None

    summary: dict[str, Any] = {
        "vendor": "FEI/Thermo Fisher",
        "instrument": system.get("SystemType") or system.get("Type") or None,
        "accelerating_voltage_kv": hv / 1000.0 if hv is not None else None,
        "magnification": round(mag, 3) if mag else None,
        "working_distance_mm": wd * 1e3 if wd is not None else None,
        "detector": detector,
        "horizontal_field_width_um": hfw * 1e6 if hfw else None,
    }
    # FEI writes the image height without the data bar in [Image] ResolutionY.
    res_y = _number(image.get("ResolutionY"))
    if height is not None and res_y is not None and 0 < res_y < height:
        summary["databar_row"] = int(res_y)
    return pixel_um, summary


# ------------------------------------------------------------------------- Zeiss


def _zeiss_value(sem: dict[str, Any], key: str) -> tuple[Any, str | None]:
    """(value, unit) of a Zeiss ``sem_metadata`` entry, which is (label, value[, unit])."""
    entry = sem.get(key)
    if entry is None:
        return None, None
    if isinstance(entry, tuple | list):
        value = entry[1] if len(entry) > 1 else None
        unit = entry[2] if len(entry) > 2 else None
        return value, unit
    return entry, None


_MAG_RE = re.compile(r"^\s*([0-9.]+)\s*([kKmM]?)\s*[xX]?\s*$")


def _zeiss_mag(value: Any, unit: str | None) -> float | None:
    x = _number(value)
    if x is not None:
        return x * (1e3 if (unit or "").strip().upper().startswith("K") else 1.0)
    if isinstance(value, str):
        m = _MAG_RE.match(value)
        if m:
            return float(m.group(1)) * {"": 1.0, "k": 1e3, "m": 1e6}[m.group(2).lower()]
    return None


def parse_zeiss(sem: dict[str, Any], source: str) -> tuple[float | None, dict]:
    """Pixel size (µm) and summary from Zeiss SmartSEM ``sem_metadata`` (tag 34118)."""
    pixel_um = None
    value, unit = _zeiss_value(sem, "ap_image_pixel_size")
    if value is not None:
        factor = unit_to_um(unit or "")
        size = _positive(value)
        if factor is None or size is None:
            warnings.warn(
                f"{source}: Zeiss pixel size {value!r} {unit!r} is not understood; pixel_size is None "
                "(pass pixel_size=... in µm to set it)",
                MetadataWarning,
                stacklevel=4,
            )
        else:
            pixel_um = size * factor

    kv, kv_unit = _zeiss_value(sem, "ap_actualkv")
    kv = _number(kv)
    if kv is not None and (kv_unit or "kV").strip() == "V":
        kv /= 1000.0
    wd, wd_unit = _zeiss_value(sem, "ap_wd")
    wd = _number(wd)
    if wd is not None:
        wd = wd * (unit_to_um(wd_unit or "mm") or 1e3) / 1e3
    mag = _zeiss_mag(*_zeiss_value(sem, "ap_mag"))
    width, width_unit = _zeiss_value(sem, "ap_width")  # field width of the scan (the image's columns)
    width_factor = unit_to_um(width_unit or "")
    hfw = _positive(width)
    hfw = None if hfw is None or width_factor is None else hfw * width_factor
    detector = _zeiss_value(sem, "dp_detector_type")[0] or _zeiss_value(sem, "dp_detector_channel")[0]
    instrument = _zeiss_value(sem, "dp_sem")[0] or _zeiss_value(sem, "sv_serial_number")[0]
    summary = {
        "vendor": "Zeiss",
        "instrument": instrument,
        "accelerating_voltage_kv": kv,
        "magnification": mag,
        "working_distance_mm": wd,
        "detector": detector,
    }
    if hfw is not None:
        summary["horizontal_field_width_um"] = hfw
    return pixel_um, summary


# ------------------------------------------------------------------------ ImageJ


def parse_imagej(ij: dict[str, Any], x_resolution: Any) -> tuple[float | None, dict]:
    """Pixel size (µm) from ImageJ's ``unit`` and the XResolution tag (pixels per unit)."""
    unit = ij.get("unit")
    factor = unit_to_um(unit) if isinstance(unit, str) else None
    pixel_um = None
    if factor is not None and x_resolution is not None:
        try:
            num, den = x_resolution
            px_per_unit = num / den
        except (TypeError, ValueError, ZeroDivisionError):
            px_per_unit = _number(x_resolution)
        if px_per_unit and px_per_unit > 0:
            pixel_um = factor / px_per_unit
    summary: dict[str, Any] = {"vendor": "ImageJ"}
    info = ij.get("Info")
    if isinstance(info, str) and info.startswith("{"):
        try:
            data = json.loads(info)
        except ValueError:
            data = None
        if isinstance(data, dict) and data.get("writer") == "semlab":
            summary = {k: v for k, v in data.items() if k != "writer"}
            summary.setdefault("vendor", "semlab")
            return pixel_um, {**summary, "_semlab": True}
    return pixel_um, summary
