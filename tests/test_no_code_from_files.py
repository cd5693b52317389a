"""No data file can run code (issue 19 item 1).

Each loader of a user-reachable file is given a planted file whose pickle, when
unpickled, creates a marker file.  The loader must refuse it with a one-line semlab
error, and the marker must not exist.  A scan of ``src/`` checks that no unsafe loader
is left.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

from semlab.errors import SemlabError

SRC = Path(__file__).resolve().parents[1] / "src" / "semlab"


class Payload:
    """Unpickling this opens (so creates) ``marker``: a visible side effect."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _refused(call, marker: Path) -> str:
    with pytest.raises(SemlabError) as err:
        call()
    msg = str(err.value)
    assert "\n" not in msg, msg
    assert not marker.exists(), "the planted payload ran"
    return msg


def test_no_unsafe_loader_in_src():
    patterns = [
        r"weights_only\s*=\s*False",
        r"allow_pickle\s*=\s*True",
        r"\bpickle\.loads?\(",
        r"\bjoblib\.load\(",
        r"\bcloudpickle\b",
        r"\bdill\b",
        r"pd\.read_pickle\(",
        r"np\.load\([^)]*\)\.item\(\)",
    ]
    hits = []
    for path in SRC.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for pat in patterns:
            for m in re.finditer(pat, text):
                hits.append(f"{path.relative_to(SRC)}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0)}")
    assert not hits, hits
    # the pattern scan itself finds what it is meant to find
    assert re.search(patterns[0], "torch.load(p, weights_only=False)")


def test_torch_weights_with_a_pickled_payload(tmp_path):
    torch = pytest.importorskip("torch")
    from semlab.features.backbones import _read_state
    from semlab.training import load_torch_file

    marker = tmp_path / "ran"
    weights = tmp_path / "weights.pt"
    torch.save({"w": torch.zeros(2), "evil": Payload(marker)}, weights)
    msg = _refused(lambda: load_torch_file(weights), marker)
    assert "pickled Python objects" in msg and "weights.pt" in msg
    _refused(lambda: _read_state(weights), marker)
    # a checkpoint folder (generate/train resume, training.fit resume) goes through the same loader
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model.pt").write_bytes(weights.read_bytes())
    _refused(lambda: _read_state(tmp_path / "run"), marker)


def test_npz_with_object_arrays_in_a_run_folder(tmp_path):
    from semlab.learn.domain import DOMAIN_FILE, load_domain

    marker = tmp_path / "ran"
    run = tmp_path / "run"
    run.mkdir()
    np.savez(
        run / DOMAIN_FILE,
        params=np.array([1.0, 2.0, 0.9]),
        center=np.array([Payload(marker)], dtype=object),
        scale=np.ones(2),
        reference=np.ones((2, 2)),
        oof_scores=np.ones(2),
    )
    _refused(lambda: load_domain(run), marker)


def test_map_stored_embedding(tmp_path):
    from semlab.maps.mapdata import load_embedding

    marker = tmp_path / "ran"
    latest = tmp_path / "maps" / "latest"
    latest.mkdir(parents=True)
    # an old-style pickle alone is never loaded
    import pickle

    (latest / "embedding.pkl").write_bytes(pickle.dumps(Payload(marker)))
    _refused(lambda: load_embedding(latest), marker)
    # an NPZ with object arrays whose hash matches its config (the attacker wrote both)
    np.savez(latest / "embedding.npz", components=np.array([Payload(marker)], dtype=object))
    digest = hashlib.sha256((latest / "embedding.npz").read_bytes()).hexdigest()
    (latest / "config.json").write_text(json.dumps({"model_sha256": digest, "method": "pca"}))
    _refused(lambda: load_embedding(latest), marker)


def test_relate_run_with_a_joblib_model(tmp_path):
    import pickle

    from semlab.relate.run import load_model

    marker = tmp_path / "ran"
    run = tmp_path / "relate-run"
    run.mkdir()
    (run / "model.joblib").write_bytes(pickle.dumps(Payload(marker)))
    (run / "model.json").write_text(json.dumps({"kind": "gbr", "estimator": "model.joblib"}))
    msg = _refused(lambda: load_model(run), marker)
    assert "pickle" in msg
    # the payload is live: an unsafe load would have run it
    pickle.loads((run / "model.joblib").read_bytes())
    assert marker.exists()


def test_label_npy_with_object_array(tmp_path, capsys):
    from semlab.cli import main

    marker = tmp_path / "ran"
    path = tmp_path / "labels.npy"
    np.save(path, np.array([[Payload(marker)]], dtype=object), allow_pickle=True)
    code = main(["quantify", str(path), "-o", str(tmp_path / "q.csv")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    assert len([ln for ln in err.splitlines() if ln.startswith("error:")]) == 1
    assert not marker.exists()
