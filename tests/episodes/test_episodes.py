import hashlib

import numpy as np
import pytest

from conftest import SSV2_SAMPLE, need, toy_index
from fsar_bench.data.datasets import DATASETS
from fsar_bench.data.index import load_index
from fsar_bench.data.sampling import test_indices as sample_test
from fsar_bench.episodes.manifest import EpisodeSpec, build_manifest, load_manifest, write_manifest
from fsar_bench.errors import FsarError


def test_same_arguments_same_bytes_and_seed_matters(tmp_path):
    spec = EpisodeSpec(dataset="toy", episodes=50, seed=7)
    a, b = build_manifest(toy_index(), spec), build_manifest(toy_index(), spec)
    assert a == b
    assert build_manifest(toy_index(), EpisodeSpec(dataset="toy", episodes=50, seed=8)) != a
    digest = write_manifest(a, tmp_path / "m.json")
    assert digest == hashlib.sha256((tmp_path / "m.json").read_bytes()).hexdigest()
    assert load_manifest(tmp_path / "m.json").sha256 == digest


def test_episode_structure_and_frames():
    spec = EpisodeSpec(dataset="toy", way=5, shot=3, query=2, episodes=40, seed=1)
    import json

    data = json.loads(build_manifest(toy_index(), spec))
    for ep in data["episodes"]:
        assert len(set(ep["classes"])) == 5
        for cls, sup, qry in zip(ep["classes"], ep["support"], ep["query"]):
            assert len(sup) == 3 and len(qry) == 2 and not set(sup) & set(qry)
            assert all(data["videos"][v]["class"] == cls for v in sup + qry)
    for v in data["videos"].values():
        assert v["frames"] == sample_test(v["n_frames"], 8, "trx")


def test_draws_use_every_class_and_video_roughly_uniformly():
    import json

    data = json.loads(
        build_manifest(toy_index(), EpisodeSpec(dataset="toy", episodes=2000, seed=0))
    )
    counts = {}
    for ep in data["episodes"]:
        for c in ep["classes"]:
            counts[c] = counts.get(c, 0) + 1
    freq = np.array(list(counts.values())) / 2000
    assert len(counts) == 8 and np.allclose(freq, 5 / 8, atol=0.05)


def test_arrays_are_class_major():
    from fsar_bench.episodes.manifest import Manifest

    spec = EpisodeSpec(dataset="toy", way=3, shot=2, query=1, episodes=4)
    import json

    m = Manifest(spec=spec, data=json.loads(build_manifest(toy_index(), spec)), sha256="x")
    sup, sup_lab, qry, qry_lab = m.arrays()
    assert sup_lab.tolist()[0] == [0, 0, 1, 1, 2, 2] and qry_lab.tolist()[0] == [0, 1, 2]
    ep = m.episodes[0]
    assert sup[0][2:4] == ep["support"][1] and qry[0][2] == ep["query"][2][0]


def test_impossible_protocols_fail_clearly():
    with pytest.raises(FsarError, match="9-way episodes are impossible"):
        build_manifest(toy_index(), EpisodeSpec(dataset="toy", way=9))
    with pytest.raises(FsarError, match="need 13 videos per class"):
        build_manifest(toy_index(), EpisodeSpec(dataset="toy", shot=5, query=8))
    with pytest.raises(FsarError, match="at least 1"):
        build_manifest(toy_index(), EpisodeSpec(dataset="toy", episodes=0))


def test_real_ssv2_sample_test_episodes(cache):
    root = need(SSV2_SAMPLE)
    info = DATASETS.get("ssv2-full")
    ix = load_index(info, root, cache, missing="skip", splits=("test",))
    import json

    data = json.loads(build_manifest(ix["test"], EpisodeSpec(dataset="ssv2-full", shot=5, query=5)))
    assert len(data["episodes"]) == 10_000
    assert len(data["classes_absent"]) == 19
    assert {c for ep in data["episodes"] for c in ep["classes"]} == {f"test{k}" for k in range(5)}
    assert all(v["frames"] == list(range(8)) for v in data["videos"].values())
    with pytest.raises(FsarError, match="missing"):
        load_index(info, root, cache, missing="error", splits=("test",))
