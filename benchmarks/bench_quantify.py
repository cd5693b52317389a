"""Benchmark semlab.quantify against PoreSpy on the quantities both compute, in one run.

* 2-D: the full descriptor set (``describe_2d`` + persistence diagram and image) on a
  2048 × 1536 synthetic label image (Boolean model of disks, seed 0).
* 3-D: the real 128³ NMC electrode in ``../shared/data`` and the same upsampled to 256³
  (each voxel repeated 2 × 2 × 2): specific surface area and local thickness (pore
  diameter, NMC strut diameter) against PoreSpy, time and value, each semlab time the mean
  of two runs bracketing the peer's; geodesic tortuosity time; the diffusive tortuosity
  factor against TauFactor (CPU) at 128³; ``describe_3d`` of each phase at 128³.

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


def _aba(semlab_fn, peer_fn) -> dict:
    """semlab, peer, semlab again: the semlab time is the mean of the two runs that bracket
    the peer's, so a load change during the run affects both alike."""
    load = _load()
    a1, t1 = timed(semlab_fn)
    b, tb = timed(peer_fn)
    a2, t2 = timed(semlab_fn)
    ts = 0.5 * (t1 + t2)
    a1, b = float(a1), float(b)
    return {
        "semlab_value": a1,
        "porespy_value": b,
        "value_rel_diff": (a1 - b) / b if b else math.nan,
        "semlab_time_s": [t1, t2],
        "porespy_time_s": tb,
        "vs_porespy_time_ratio": ts / tb,
        "load_1_5_15min": load,
    }


def _peer_ssa(ps, m: np.ndarray) -> float:
    """PoreSpy's mesh area per volume, less the box faces its zero padding closes the mesh with."""
    area = ps.metrics.mesh_surface_area(ps.tools.mesh_region(m))
    cut = sum(np.count_nonzero(np.take(m, i, axis=ax)) for ax in range(3) for i in (0, -1))
    return (area - cut) / m.size


def bench_3d_size(ps, vol: np.ndarray, *, geodesic_axes, diffusion: bool) -> dict:
    from semlab.quantify import geodesic_tortuosity, local_thickness, specific_surface_area

    res: dict = {"shape": list(vol.shape), "descriptors": {}}
    d = res["descriptors"]
    for name, v in (("pore", 0), ("nmc", 85)):
        m = vol == v
        d[f"specific_surface_area_{name}_per_px"] = _aba(
            lambda v=v: specific_surface_area(vol, phase=v), lambda m=m: _peer_ssa(ps, m)
        )
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
    from semlab.quantify import describe_3d

    path = DATA / "volumes" / "nmc-electrode-128.tif"
    if not path.is_file():
        return {"skipped": f"{path} not found"}
    if ps is None:
        return {"skipped": "porespy not installed (pip install semlab[bench])"}
    vol = read_volume(path).data
    ps.filters.local_thickness(vol[:16, :16, :16] == 85)  # compile PoreSpy's numba kernels first
    res: dict = {
        "volume": "nmc-electrode-128.tif (TauFactor's electrode); 256³ = each voxel repeated 2 × 2 × 2",
        "timing": "each semlab time is the mean of two runs bracketing the peer's run (semlab, peer, semlab)",
        "peers": {
            "specific_surface_area": "ps.tools.mesh_region + ps.metrics.mesh_surface_area, less the box faces",
            "local_thickness": "2 × mean of ps.filters.local_thickness(mask) over the phase (default: every integer radius)",
        },
        "sizes": {},
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
    big = res["sizes"].get(str(max(sizes)), {}).get("descriptors", {})
    res["done_when"] = {
        "size": max(sizes),
        "vs_porespy_time_ratio": {k: e["vs_porespy_time_ratio"] for k, e in big.items()},
        "value_rel_diff": {k: e["value_rel_diff"] for k, e in big.items()},
        "met": all(
            e["vs_porespy_time_ratio"] <= 1.0 and abs(e["value_rel_diff"]) <= 0.02 for e in big.values()
        ),
    }
    return res


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--part", choices=("2d", "3d", "all"), default="all", help="which half to run (the other is kept)"
    )
    ap.add_argument("--sizes", default="128,256", help="3-D cube sides, multiples of 128 (default 128,256)")
    args = ap.parse_args()
    try:
        import porespy as ps

        ps_version = ps.__version__
    except Exception:  # pragma: no cover
        ps, ps_version = None, None
    results = json.loads(OUT.read_text()) if OUT.is_file() else {}
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
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2, default=float))
    print(json.dumps(results.get("three_d", {}).get("done_when", {}), indent=2, default=float))


if __name__ == "__main__":
    main()
