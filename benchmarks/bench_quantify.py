"""Benchmark semlab.quantify against PoreSpy on the quantities both compute, in one run.

* 2-D: the full descriptor set (``describe_2d`` + persistence diagram and image) on a
  2048 × 1536 synthetic label image (Boolean model of disks, seed 0).
* 3-D: ``describe_3d`` of each phase of the real 128³ NMC electrode in ``../shared/data``.

PoreSpy (``pip install porespy``; a benchmark-only dependency) gives porosity, two-point
correlation, chord lengths, mesh surface area, local thickness and the finite-difference
tortuosity factor.  TauFactor needs PyTorch, which this project does not install, so it is
not run.  Values are printed side by side and written to ``benchmarks/results/quantify.json``.

Run:  ``.venv/bin/python benchmarks/bench_quantify.py``
"""

from __future__ import annotations

import json
import math
import platform
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "benchmarks" / "results" / "quantify.json"


def timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


def boolean_disks(shape=(1536, 2048), fraction=0.35, r_range=(6, 30), seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.zeros(shape, np.uint8)
    mean_area = math.pi * np.mean(np.square(rng.uniform(*r_range, 10000)))
    n = int(-math.log(1 - fraction) * img.size / mean_area)
    rr, cc = np.ogrid[: shape[0], : shape[1]]
    for r0, c0, rad in zip(
        rng.uniform(0, shape[0], n), rng.uniform(0, shape[1], n), rng.uniform(*r_range, n), strict=True
    ):
        a, b = max(int(r0 - rad) - 1, 0), min(int(r0 + rad) + 2, shape[0])
        c, d = max(int(c0 - rad) - 1, 0), min(int(c0 + rad) + 2, shape[1])
        img[a:b, c:d] |= ((rr[a:b] - r0) ** 2 + (cc[:, c:d] - c0) ** 2 <= rad * rad).astype(np.uint8)
    return img


def bench_2d(ps) -> dict:
    from semlab.quantify import describe_2d, persistence_diagram, persistence_image

    img = boolean_disks()
    res: dict = {"shape": list(img.shape), "semlab": {}, "porespy": {}, "time_s": {}}
    d, t = timed(describe_2d, img, pixel_size=0.01)
    res["time_s"]["semlab_describe_2d"] = t
    dg, t = timed(persistence_diagram, img, phase=1, pixel_size=0.01)
    res["time_s"]["semlab_persistence_diagram"] = t
    _, t = timed(persistence_image, dg, dim=1)
    res["time_s"]["semlab_persistence_image"] = t
    res["time_s"]["semlab_full_2d_set"] = sum(res["time_s"].values())
    res["semlab"] = {k: v for k, v in d.to_dict().items() if isinstance(v, (int, float)) and v is not None}
    res["semlab"]["n_h1_bars"] = int((dg.dim == 1).sum())

    from semlab.quantify import chord_lengths, two_point_correlation

    s2 = two_point_correlation(img, pixel_size=0.01)
    ch = chord_lengths(img, pixel_size=0.01)
    if ps is not None:
        por, t_por = timed(ps.metrics.porosity, img.astype(bool))
        tp, t_tp = timed(ps.metrics.two_point_correlation, img.astype(bool), voxel_size=0.01, bins=100)

        def ps_chords(im):
            from scipy import ndimage as ndi

            lengths = []
            for ax in (0, 1):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)
                    chords = ps.filters.apply_chords(im, axis=ax, spacing=0, trim_edges=True)
                labels, n = ndi.label(chords, structure=[[0, 0, 0], [1, 1, 1], [0, 0, 0]] if ax == 1 else
                                      [[0, 1, 0], [0, 1, 0], [0, 1, 0]])  # fmt: skip
                lengths.append(np.bincount(labels.ravel())[1:])
            return np.concatenate(lengths)

        pch, t_ch = timed(ps_chords, img.astype(bool))
        res["time_s"].update({"porespy_porosity": t_por, "porespy_two_point": t_tp, "porespy_chords": t_ch})
        # porespy reports S2(r) / phi (the probability that a point at distance r from a phase
        # point is in the phase); semlab reports S2(r) itself: compare S2 / phi
        dist, prob = np.asarray(tp.distance), np.asarray(tp.probability)
        r_sem = s2["r_um"].to_numpy()
        res["side_by_side"] = {
            "phase_fraction": {"semlab": d.phase_fraction, "porespy": float(por)},
            "mean_chord_length_um": {"semlab": float(ch.mean()), "porespy": float(pch.mean() * 0.01)},
            **{
                f"s2_at_{r}um": {
                    "semlab_s2_over_phi": float(np.interp(r, r_sem, s2["s2"]) / d.phase_fraction),
                    "porespy": float(np.interp(r, dist, prob)),
                }
                for r in (0.05, 0.2, 1.0)
            },
        }
    return res


def bench_3d(ps) -> dict:
    from semlab.io import read_volume
    from semlab.quantify import describe_3d, specific_surface_area

    path = DATA / "volumes" / "nmc-electrode-128.tif"
    if not path.is_file():
        return {"skipped": f"{path} not found"}
    vol = read_volume(path).data
    res: dict = {"shape": list(vol.shape), "phases": {}}
    for name, v in (("pore", 0), ("nmc", 85), ("cbd", 170)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            d, t = timed(describe_3d, vol, phase=v)
        entry: dict = {"semlab": d.to_dict(), "time_s": {"semlab_describe_3d": t}}
        if name == "pore":  # where the time goes
            from semlab.quantify import geodesic_tortuosity, strut_diameters, surface_curvature

            for label, fn in (
                ("specific_surface_area", specific_surface_area),
                ("strut_diameters", strut_diameters),
                ("geodesic_tortuosity_3_axes", geodesic_tortuosity),
                ("surface_curvature", surface_curvature),
            ):
                entry["time_s"][f"semlab_{label}"] = timed(fn, vol, phase=v)[1]
        entry["semlab"]["specific_surface_area_raw_marching_cubes_per_px"] = specific_surface_area(
            vol, phase=v, normal_sigma=0
        )
        if ps is not None:
            m = vol == v
            por, t_por = timed(ps.metrics.phase_fraction, vol)
            mesh, t_mesh = timed(ps.tools.mesh_region, m)
            area = ps.metrics.mesh_surface_area(mesh)
            # porespy closes the mesh at the box faces (zero padding): subtract the cut faces
            cut = sum(np.count_nonzero(np.take(m, i, axis=ax)) for ax in range(3) for i in (0, -1))
            lt, t_lt = timed(ps.filters.local_thickness, m, sizes=40)
            entry["time_s"].update({"porespy_mesh_surface": t_mesh, "porespy_local_thickness": t_lt})
            entry["side_by_side"] = {
                "phase_fraction": {"semlab": d.phase_fraction, "porespy": float(por[v])},
                "specific_surface_area_per_px": {
                    "semlab": d.specific_surface_area,
                    "porespy_mesh_region": float(area / m.size),
                    "porespy_mesh_region_minus_box_faces": float((area - cut) / m.size),
                },
                "strut_diameter_px": {
                    "semlab_lognormal_mean": d.strut_diameter_mean,
                    "semlab_median": d.strut_diameter_median,
                    "porespy_local_thickness_mean": float(2 * lt[m].mean()),
                },
            }
            if name == "pore":
                try:  # needs openpnm
                    fd, t_fd = timed(ps.simulations.tortuosity_fd, m, axis=0)
                    entry["time_s"]["porespy_tortuosity_fd_axis0"] = t_fd
                    entry["side_by_side"]["tortuosity_axis0"] = {
                        "semlab_geodesic": d.tortuosity[0],
                        "porespy_fd_tortuosity_factor": float(fd.tortuosity),
                        "porespy_fd_sqrt_factor": float(math.sqrt(fd.tortuosity)),
                        "note": "geodesic path ratio vs diffusive tortuosity factor (tau^2-like); not the same quantity",
                    }
                except Exception as exc:  # solver missing or too slow
                    entry["side_by_side"]["tortuosity_axis0"] = {"porespy_error": repr(exc)[:200]}
        res["phases"][name] = entry
    return res


def main() -> None:
    try:
        import porespy as ps

        ps_version = ps.__version__
    except Exception:  # pragma: no cover
        ps, ps_version = None, None
    results = {
        "machine": {"python": platform.python_version(), "cpu_count": __import__("os").cpu_count()},
        "porespy": ps_version,
        "taufactor": "not run: needs PyTorch, which semlab does not install",
        "two_d": bench_2d(ps),
        "three_d": bench_3d(ps),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2, default=float))
    print(json.dumps(results, indent=2, default=float))


if __name__ == "__main__":
    main()
