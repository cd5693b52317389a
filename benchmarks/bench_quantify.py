"""Benchmark semlab.quantify against PoreSpy on the quantities both compute, in one run.

* 2-D: the full descriptor set (``describe_2d`` + persistence diagram and image) on a
  2048 × 1536 synthetic label image (Boolean model of disks, seed 0).
* 3-D: the real 128³ NMC electrode in ``../shared/data`` and the same upsampled to 256³
  (each voxel repeated 2 × 2 × 2): specific surface area and local thickness (pore
  diameter, NMC strut diameter) against PoreSpy, time and value, each semlab time the mean
  of two runs bracketing the peer's; geodesic tortuosity time; the diffusive tortuosity
  factor against TauFactor (CPU) at 128³; ``describe_3d`` of each phase at 128³.
  Surface area twice a phase: the raw marching-cubes area (one estimator, both libraries:
  the value test) and each library's default (different smoothings: time only), with the
  measured reason for their gap (``ssa_checks``: growth under 2 × 2 × 2 repetition, a sphere).

PoreSpy and TauFactor are benchmark-only dependencies (``pip install semlab[bench]``).
Machine load (1/5/15-min averages) is recorded with every measurement.  Written to
``benchmarks/results/quantify.json`` (a ``--part`` run keeps the other half's results).

Run:  ``nice -n 10 .venv/bin/python benchmarks/bench_quantify.py --part 3d``
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
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


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _aba(semlab_fn, peer_fn, peer_value=float) -> dict:
    """semlab, peer, semlab again: the semlab time is the mean of the two runs that bracket
    the peer's, so a load change during the run affects both alike.  ``peer_value`` turns the
    peer's output into the compared number outside the timing."""
    load = _load()
    a1, t1 = timed(semlab_fn)
    b, tb = timed(peer_fn)
    a2, t2 = timed(semlab_fn)
    ts = 0.5 * (t1 + t2)
    a1, b = float(a1), float(peer_value(b))
    return {
        "semlab_value": a1,
        "porespy_value": b,
        "value_rel_diff": (a1 - b) / b if b else math.nan,
        "semlab_time_s": [t1, t2],
        "porespy_time_s": tb,
        "vs_porespy_time_ratio": ts / tb,
        "load_1_5_15min": load,
    }


#: The two surface-area estimators compared, each against PoreSpy computing the same kind of
#: estimate (key suffix, semlab's normal_sigma, PoreSpy's mesh_region strel, description).
SSA_ESTIMATORS = {
    "raw_mc": (
        0.0,
        np.ones((1, 1, 1)),
        "same estimator on both sides: the marching-cubes mesh of the binary mask at level 0.5 "
        "(semlab normal_sigma=0; PoreSpy mesh_region with a one-voxel strel, i.e. no blur)",
    ),
    "default": (
        1.0,
        None,
        "each library's default, two different smoothings of the staircase: semlab projects the "
        "marching-cubes triangles on the normals of the mask smoothed by a Gaussian of 1 voxel; "
        "PoreSpy meshes the mask blurred by a radius-1 ball (7-voxel mean) with marching cubes",
    ),
}


def _peer_mesh(ps, m: np.ndarray, strel):
    """What a PoreSpy user runs: mesh_region, then mesh_surface_area (the timed part)."""
    mesh = ps.tools.mesh_region(m, strel=strel)
    ps.metrics.mesh_surface_area(mesh)
    return mesh


def _mesh_ssa_in_box(mesh, shape) -> float:
    """Area per voxel of the triangles inside the cubes between voxel centres, semlab's domain.

    PoreSpy pads the mask with zeros, so its mesh also closes the phase over the box faces and
    runs half a voxel beyond the outer voxel centres; those triangles (centroid outside
    ``(0, n - 1)`` on an axis) are left out.  For the unblurred mesh this equals semlab's raw
    area to rounding (checked: 2e-16 on the 128³ electrode).
    """
    from skimage.measure import mesh_surface_area

    centre = mesh.verts[mesh.faces].mean(axis=1)
    inside = np.all((centre > 0) & (centre < np.asarray(shape) - 1), axis=1)
    return float(mesh_surface_area(mesh.verts, mesh.faces[inside])) / float(np.prod(shape))


def bench_ssa(ps, vol: np.ndarray, v: int) -> dict:
    """Specific surface area of phase ``v`` by both estimators, each against its PoreSpy twin."""
    from semlab.quantify import specific_surface_area

    m = vol == v
    out = {}
    for suffix, (sigma, strel, _note) in SSA_ESTIMATORS.items():
        out[suffix] = _aba(
            lambda sigma=sigma: specific_surface_area(vol, phase=v, normal_sigma=sigma),
            lambda strel=strel: _peer_mesh(ps, m, strel),
            peer_value=lambda mesh: _mesh_ssa_in_box(mesh, m.shape),
        )
    return out


def ssa_checks(ps, sizes_res: dict) -> dict:
    """Why the default estimators differ at 256³: both measured, not asserted.

    * Upsampling: ``2 × SSA(256³) / SSA(128³)`` of each estimator on the same electrode (1 if an
      estimator measured the same physical area on the ×2 staircase).
    * Sphere: a ball of radius 20 voxels (48³) and the same voxels repeated 2 × 2 × 2, against 4πR².
    """
    from semlab.quantify import surface_area

    out: dict = {}
    small, big = (
        sizes_res.get("128", {}).get("descriptors", {}),
        sizes_res.get("256", {}).get("descriptors", {}),
    )
    for key, e in small.items():
        if key.startswith("specific_surface_area") and key in big:
            out[key] = {
                who: 2 * big[key][f"{who}_value"] / e[f"{who}_value"] for who in ("semlab", "porespy")
            }
    n, radius = 48, 20.0
    z, y, x = np.ogrid[:n, :n, :n]
    c = n / 2 - 0.3
    ball = (z - c) ** 2 + (y - c) ** 2 + (x - c) ** 2 <= radius**2
    sphere: dict = {"radius_voxels": radius, "true_area": 4 * math.pi * radius**2}
    for name, b, s in (
        ("voxelised", ball, 1.0),
        ("repeated_2x2x2", ball.repeat(2, 0).repeat(2, 1).repeat(2, 2), 0.5),
    ):
        row = {}
        for suffix, (sigma, strel, _note) in SSA_ESTIMATORS.items():
            mesh = ps.tools.mesh_region(b, strel=strel)
            row[f"semlab_{suffix}_rel_err"] = (
                surface_area(b, pixel_size=s, normal_sigma=sigma) / sphere["true_area"] - 1
            )
            peer = float(ps.metrics.mesh_surface_area(mesh)) * s * s
            row[f"porespy_{suffix}_rel_err"] = peer / sphere["true_area"] - 1
        sphere[name] = row
    return {
        "upsampling_2x256_over_128": out,
        "sphere": sphere,
        "note": (
            "Both default estimators smooth at a fixed scale in voxels, so on the electrode repeated "
            "2x2x2 they see a sharper staircase than at 128³ and measure more area (ratios above 1). "
            "semlab's Gaussian-normal projection flattens the staircase more than PoreSpy's 7-voxel "
            "blur, so it grows less: on the sphere repeated 2x2x2 semlab's default is closer to 4πR² "
            "than PoreSpy's, and that is the default-vs-default gap at 256³. The raw marching-cubes "
            "entries are one estimator computed by both libraries: their values agree to rounding."
        ),
    }


def bench_3d_size(ps, vol: np.ndarray, *, geodesic_axes, diffusion: bool) -> dict:
    from semlab.quantify import geodesic_tortuosity, local_thickness

    res: dict = {"shape": list(vol.shape), "descriptors": {}}
    d = res["descriptors"]
    for name, v in (("pore", 0), ("nmc", 85)):
        m = vol == v
        ssa = bench_ssa(ps, vol, v)
        d[f"specific_surface_area_{name}_per_px"] = ssa["default"]
        d[f"specific_surface_area_{name}_raw_mc_per_px"] = ssa["raw_mc"]
        label = "pore_diameter" if name == "pore" else "nmc_strut_diameter"
        d[f"{label}_local_thickness_mean_px"] = _aba(
            lambda v=v: local_thickness(vol, phase=v).mean,
            lambda m=m: 2 * ps.filters.local_thickness(m)[m].mean(dtype=np.float64),
        )
    load = _load()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t, tt = timed(geodesic_tortuosity, vol, phase=0, axes=geodesic_axes)
    res["geodesic_tortuosity_pore"] = {
        "axes": list(t.axes), "values": list(t.values), "time_s": tt, "load_1_5_15min": load,
        "note": "one multi-source MCP_Geometric search per axis from the inlet face; PoreSpy has no geodesic tortuosity",
    }  # fmt: skip
    if diffusion:
        res["tortuosity_factor_pore_axis0"] = bench_tau(vol == 0)
    return res


def bench_tau(m: np.ndarray) -> dict:
    """semlab's diffusive tortuosity factor against TauFactor (CPU) on the same phase, axis 0."""
    from semlab.quantify import tortuosity_factor

    load = _load()
    f, t_sem = timed(tortuosity_factor, m.view(np.uint8), phase=1, axes=0)
    out: dict = {
        "semlab_tau": f.values[0], "semlab_relative_diffusivity": f.relative_diffusivity[0],
        "semlab_cg_iterations": f.iterations[0], "semlab_time_s": t_sem, "load_1_5_15min": load,
        "definition": "tau = porosity * D / D_eff, steady-state diffusion (not the geodesic path ratio)",
    }  # fmt: skip
    try:
        import taufactor

        def run_tf():
            s = taufactor.Solver(m.astype(np.uint8), device="cpu")
            s.solve(verbose="no")
            return s

        s, t_tf = timed(run_tf)
        tau_tf = float(np.ravel(np.asarray(s.tau))[0])
        out.update({
            "taufactor_version": importlib.metadata.version("taufactor"), "taufactor_tau": tau_tf,
            "taufactor_time_s": t_tf, "value_rel_diff": (f.values[0] - tau_tf) / tau_tf,
            "vs_taufactor_time_ratio": t_sem / t_tf,
            "taufactor_settings": "Solver(device='cpu').solve() defaults: conv_crit 0.01, iter_limit 10000",
        })  # fmt: skip
    except Exception as exc:  # not installed or failed
        out["taufactor_error"] = repr(exc)[:200]
    return out


def bench_3d(ps, sizes=(128, 256)) -> dict:
    from semlab.io import read_volume
    from semlab.quantify import describe_3d, specific_surface_area

    path = DATA / "volumes" / "nmc-electrode-128.tif"
    if not path.is_file():
        return {"skipped": f"{path} not found"}
    if ps is None:
        return {"skipped": "porespy not installed (pip install semlab[bench])"}
    vol = read_volume(path).data
    ps.filters.local_thickness(vol[:16, :16, :16] == 85)  # compile PoreSpy's numba kernels first
    # semlab's compiled surface-area pass: load it (numba import + on-disk cache, or compile) first too
    _, first_ssa = timed(specific_surface_area, vol[:8, :8, :8], phase=0)
    res: dict = {
        "volume": "nmc-electrode-128.tif (TauFactor's electrode); 256³ = each voxel repeated 2 × 2 × 2",
        "timing": "each semlab time is the mean of two runs bracketing the peer's run (semlab, peer, semlab)",
        "peers": {
            "specific_surface_area": (
                "ps.tools.mesh_region + ps.metrics.mesh_surface_area (timed); compared: that mesh's area "
                "inside the cubes between voxel centres (semlab's domain), per voxel"
            ),
            "specific_surface_area_estimators": {k: e[2] for k, e in SSA_ESTIMATORS.items()},
            "local_thickness": "2 × mean of ps.filters.local_thickness(mask) over the phase (default: every integer radius)",
        },
        "sizes": {},
        "ssa_first_call_s": first_ssa,
        "ssa_first_call_note": "one-off per process, before the timings: numba import + loading the cached "
        "machine code (about 1.5 s more where nothing is cached yet and it compiles)",
    }
    phases = {}
    for name, v in (("pore", 0), ("nmc", 85), ("cbd", 170)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            d, t = timed(describe_3d, vol, phase=v)
        phases[name] = {"describe_3d_time_s": t, "values": d.to_dict()}
    res["describe_3d_128"] = phases
    for n in sizes:
        f = n // vol.shape[0]
        v = vol.repeat(f, 0).repeat(f, 1).repeat(f, 2) if f > 1 else vol
        print(f"3-D {n}³ ...", flush=True)
        res["sizes"][str(n)] = bench_3d_size(
            ps, v, geodesic_axes=(0, 1, 2) if n <= 128 else 0, diffusion=n <= 128
        )
    res["ssa_checks"] = ssa_checks(ps, res["sizes"])
    big = res["sizes"].get(str(max(sizes)), {}).get("descriptors", {})
    res["done_when"] = done_when(big, max(sizes))
    return res


def done_when(big: dict, size: int) -> dict:
    """The issue's test at the largest size: every entry ≤ 1.0× PoreSpy's time; values within 2 %.

    Surface area has two entries a phase.  The value test uses the raw marching-cubes one, where
    both libraries compute one estimator; the defaults are two different estimators (their gap
    is measured in ``ssa_checks``), so they are held to the time test only: the default must not
    be slower than the peer either.
    """
    defaults = [k for k in big if k.startswith("specific_surface_area") and not k.endswith("_raw_mc_per_px")]
    time_test = {k: e["vs_porespy_time_ratio"] <= 1.0 for k, e in big.items()}
    value_test = {k: abs(e["value_rel_diff"]) <= 0.02 for k, e in big.items() if k not in defaults}
    return {
        "size": size,
        "vs_porespy_time_ratio": {k: e["vs_porespy_time_ratio"] for k, e in big.items()},
        "value_rel_diff": {k: e["value_rel_diff"] for k, e in big.items()},
        "time_test": time_test,
        "value_test": value_test,
        "value_test_not_applied": {
            k: "each library's default estimator (different smoothings); see ssa_checks" for k in defaults
        },
        "met": all(time_test.values()) and all(value_test.values()),
    }


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--part", choices=("2d", "3d", "all"), default="all", help="which half to run (the other is kept)"
    )
    ap.add_argument("--sizes", default="128,256", help="3-D cube sides, multiples of 128 (default 128,256)")
    ap.add_argument(
        "--out", type=Path, default=OUT, help=f"JSON file to update (default {OUT.relative_to(ROOT)})"
    )
    args = ap.parse_args()
    try:
        import porespy as ps

        ps_version = ps.__version__
    except Exception:  # pragma: no cover
        ps, ps_version = None, None
    out = args.out
    results = json.loads(out.read_text()) if out.is_file() else {}
    results.update({
        "machine": {"python": platform.python_version(), "cpu_count": os.cpu_count(), "load_at_start": _load(),
                    "nice": os.nice(0)},
        "porespy": ps_version,
    })  # fmt: skip
    results.pop("taufactor", None)
    if args.part in ("2d", "all"):
        results["two_d"] = bench_2d(ps)
    if args.part in ("3d", "all"):
        results["three_d"] = bench_3d(ps, tuple(int(x) for x in args.sizes.split(",")))
    results["machine"]["load_at_end"] = _load()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=float))
    print(json.dumps(results.get("three_d", {}).get("done_when", {}), indent=2, default=float))


if __name__ == "__main__":
    main()
