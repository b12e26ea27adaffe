"""Misalignment pipeline: evolution vectors, AEM readings, published values, ground truth, files,
Fig. 8 points from method extras, figures."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from fsar_bench.analysis.measures.alignment import alignment_points, method_from_run
from fsar_bench.analysis.measures.figures import (
    plot_alignment_tsne,
    plot_evolution_tsne,
    plot_start_times,
    start_labels,
)
from fsar_bench.analysis.measures.misalignment import (
    analyse,
    evolution,
    ground_truth_check,
    published_aem,
    write_per_class_csv,
    write_start_times_csv,
)
from fsar_bench.analysis.measures.results import MisalignmentReport
from fsar_bench.analysis.measures.start_times import NEVER, start_time_summary
from fsar_bench.analysis.probe.trained import Probe, ProbeConfig, ProbeVideo
from fsar_bench.episodes.manifest import EpisodeSpec, Manifest
from fsar_bench.errors import FsarError
from fsar_bench.methods.base import EpisodeOutput, FewShotMethod


def softmax_rows(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def fake_probe(logits: np.ndarray, labels: list[int], n_classes: int) -> Probe:
    """A probe whose scored videos have the given per-frame logits ``[V, T, K]``."""
    classes = [f"class{k}" for k in range(n_classes)]
    scored = [
        ProbeVideo(
            video_id=f"v{i}",
            class_key=classes[c],
            split="test",
            label=c,
            scored=True,
            trained=False,
        )
        for i, c in enumerate(labels)
    ]
    v, t = logits.shape[:2]
    indices = np.tile(np.arange(t) * 3 + 1, (v, 1))  # frame k*3 + 1 sampled at step k
    return Probe(
        folder=Path("probe"),
        config=ProbeConfig(),
        description="test probe",
        classes=classes,
        videos=scored,
        scored=scored,
        frame_logits=logits,
        indices=indices,
        clips=["test clip"] * v,
        record={"seconds": 1.0, "history": []},
    )


def test_evolution_is_the_softmax_row_of_the_true_class():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(5, 4, 3)).astype(np.float32)  # [V, T, K]
    labels = np.array([0, 2, 1, 1, 0])
    expected = softmax_rows(logits.astype(np.float64))[np.arange(5), :, labels]  # [V, T]
    np.testing.assert_allclose(evolution(logits, labels), expected, rtol=1e-6)


def test_published_values_match_through_the_registry():
    assert published_aem("ucf101").value == pytest.approx(0.1653)
    assert published_aem("hmdb51").value == pytest.approx(0.3697)
    ssv2 = published_aem("ssv2-full")  # the paper's "ssv2" is the registry alias of ssv2-full
    assert ssv2.value == pytest.approx(0.626) and ssv2.published_as == "ssv2"
    assert published_aem("ssv2-small") is None and published_aem("synthetic-mid") is None


def test_ground_truth_hand_worked():
    indices = np.array([[0, 4, 8, 12]] * 4)  # [V, T]
    starts = np.array([1, 2, NEVER, 0])  # estimated steps
    true = np.array([3, 8, 5, 2])  # true frames; true steps = sampled frames before: 1, 2, 2, 1
    gt = ground_truth_check(starts, indices, true)
    # compared: frames 4 vs 3, 8 vs 8, 0 vs 2 -> errors +1, 0, -2; steps 1-1, 2-2, 0-1
    assert (gt.videos, gt.never_reached, gt.compared) == (4, 1, 3)
    assert gt.mae_frames == pytest.approx(1.0) and gt.mean_error_frames == pytest.approx(-1 / 3)
    assert gt.mae_steps == pytest.approx(1 / 3) and gt.exact_step_fraction == pytest.approx(2 / 3)
    assert gt.pearson_r == pytest.approx(np.corrcoef([4, 8, 0], [3, 8, 2])[0, 1])
    assert gt.spearman_rho == pytest.approx(1.0)
    assert gt.true_step_counts == (0, 2, 2, 0, 0)


def test_ground_truth_without_spread_has_no_correlation():
    indices = np.array([[0, 4, 8]] * 3)
    gt = ground_truth_check(np.array([0, 0, 0]), indices, np.array([0, 0, 0]))
    assert math.isnan(gt.pearson_r) and gt.mae_frames == 0 and gt.exact_step_fraction == 1
    none = ground_truth_check(np.array([NEVER] * 3), indices, np.array([0, 1, 2]))
    assert none.compared == 0 and math.isnan(none.mae_frames)


def test_analyse_reports_both_readings_per_class_and_start_times():
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 2, size=(12, 6, 3)).astype(np.float32)
    labels = [k % 3 for k in range(12)]
    probe = fake_probe(logits, labels, 3)
    result = analyse(probe, "ucf101", truth=np.arange(12) % 7)
    p = evolution(logits, np.array(labels))
    u = p / np.linalg.norm(p, axis=1, keepdims=True)
    pair_mean = (1 - u @ u.T)[~np.eye(12, dtype=bool)].mean()  # slow obvious reading
    r = result.report
    assert r.mean_pairwise_cosine_distance == pytest.approx(pair_mean, rel=1e-10)
    assert r.aem_eq10_as_printed == pytest.approx(pair_mean / 2, rel=1e-10)
    assert r.published.value == pytest.approx(0.1653)
    cls0 = u[np.array(labels) == 0]
    m0 = (1 - cls0 @ cls0.T)[~np.eye(4, dtype=bool)].mean()
    cls = r.per_class[0]
    assert (cls.class_key, cls.videos) == ("class0", 4)
    assert cls.aem == pytest.approx(m0 / 2) and cls.mean_cosine_distance == pytest.approx(m0)
    assert r.start_times == start_time_summary(p)
    assert r.ground_truth.videos == 12 and "not seen in training" in r.probe.videos_note


def test_start_times_csv_maps_steps_to_frames_and_keeps_never(tmp_path):
    logits = np.zeros((2, 4, 2), dtype=np.float32)
    logits[0, :2, 1] = 1.0  # video 0 (class 0): p = 0.27 at steps 0-1 ...
    logits[0, 2:, 0] = 5.0  # ... then starts at step 2, sampled from frame 2 * 3 + 1 = 7
    logits[1, :, 1] = -1.0  # video 1 (class 1) never reaches 0.5
    probe = fake_probe(logits, [0, 1], 2)
    result = analyse(probe, "hmdb51")
    rows = list(csv.DictReader(open(write_start_times_csv(tmp_path / "s.csv", probe, result))))
    assert (rows[0]["start_step"], rows[0]["start_frame"]) == ("2", "7")
    assert (rows[1]["start_step"], rows[1]["start_frame"]) == ("never", "")
    assert float(rows[0]["p_3"]) == pytest.approx(1 / (1 + math.exp(-5)), abs=1e-6)
    per_class = list(csv.DictReader(open(write_per_class_csv(tmp_path / "c.csv", result))))
    assert [r["class"] for r in per_class] == ["class0", "class1"]
    assert per_class[0]["aem"] == "nan"  # one video: no pair, kept and shown


def stub_extras(e: int, q: int, n: int, t: int, c: int, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {
        "query_embedding_before": torch.randn(e, q, t, c, generator=g),
        "prototype_before": torch.randn(e, n, t, c, generator=g),
        "query_embedding_after": torch.randn(e, q, n, t, c, generator=g),
        "prototype_after": torch.randn(e, q, n, t, c, generator=g),
    }


def test_alignment_points_pick_own_class_and_average_prototypes():
    extras = stub_extras(2, 4, 2, 3, 5)
    labels = torch.tensor([[0, 0, 1, 1], [1, 0, 1, 0]])
    names = [["a", "b"], ["c", "d"]]
    out = alignment_points(extras, labels, names)
    feats, classes, kinds = out["after"]
    assert classes.tolist() == ["a", "a", "b", "b", "d", "c", "d", "c", "a", "b", "c", "d"]
    assert kinds.tolist() == ["query"] * 8 + ["prototype"] * 4
    unit = torch.nn.functional.normalize(extras["query_embedding_after"].double(), dim=-1)
    np.testing.assert_allclose(feats[4], unit[1, 0, 1].flatten().numpy())  # own class 1
    proto = extras["prototype_after"][1, [0, 2], 1].double().mean(0)  # class 1, its queries
    np.testing.assert_allclose(feats[11], torch.nn.functional.normalize(proto, dim=-1).flatten())
    before = out["before"][0]
    sq = ((before[0] - before[8]) ** 2).sum()  # query 0 vs prototype a: 2 * sum_t (1 - cos)
    cos = torch.nn.functional.cosine_similarity(
        extras["query_embedding_before"][0, 0].double(), extras["prototype_before"][0, 0].double()
    )
    assert sq == pytest.approx(2 * (1 - cos).sum().item())
    with pytest.raises(FsarError, match="return_extras"):
        alignment_points({"prototype_before": extras["prototype_before"]}, labels, names)


class StubMethod(FewShotMethod):
    """Returns extras that record which videos it saw (feature value = video number)."""

    input_kind = "pooled"

    def compare(self, support, support_labels, query, n_way):
        e, q = query["x"].shape[:2]
        t, c = query["x"].shape[2:]
        extras = {
            "query_embedding_before": query["x"],
            "prototype_before": support["x"][:, :n_way],
            "query_embedding_after": query["x"][:, :, None].expand(e, q, n_way, t, c),
            "prototype_after": support["x"][:, None, :n_way].expand(e, q, n_way, t, c),
        }
        return EpisodeOutput(logits=torch.zeros(e, q, n_way), extras=extras)


@pytest.mark.parametrize("chunk", [1, 50])
def test_evaluation_keeps_extras_of_every_episode_in_manifest_order(chunk):
    from fsar_bench.engine.evaluate import evaluate

    spec = EpisodeSpec(dataset="toy", way=2, shot=1, query=2, episodes=2)
    episodes = [
        {"classes": ["a", "b"], "support": [["1"], ["2"]], "query": [["3", "4"], ["5", "6"]]},
        {"classes": ["b", "c"], "support": [["7"], ["8"]], "query": [["9", "10"], ["11", "12"]]},
    ]
    manifest = Manifest(spec=spec, data={"episodes": episodes}, sha256="sha")
    load = lambda ids: torch.tensor([float(i) for i in ids])[:, None, None].expand(-1, 3, 2)  # noqa: E731
    result = evaluate(StubMethod(), manifest, load, device="cpu", keep_extras=True, chunk=chunk)
    extras = result.extras
    labels = torch.as_tensor(manifest.arrays()[3])
    names = [ep["classes"] for ep in manifest.episodes]
    assert extras["query_embedding_before"][:, :, 0, 0].tolist() == [[3, 4, 5, 6], [9, 10, 11, 12]]
    assert labels.tolist() == [[0, 0, 1, 1]] * 2 and names == [["a", "b"], ["b", "c"]]
    panels = alignment_points(extras, labels, names)
    assert panels["before"][0].shape == (12, 6)


def test_start_time_figure_is_written(tmp_path):
    p = np.random.default_rng(0).uniform(size=(20, 8))
    starts = np.array([0, 1, NEVER] * 6 + [7, 7])
    assert start_labels(starts)[:3].tolist() == ["1", "2", "never"]
    files = plot_start_times(
        {"a": start_time_summary(p), "b": start_time_summary(p / 2)}, tmp_path / "st.png", pdf=True
    )
    assert [f.suffix for f in files] == [".png", ".pdf"] and all(f.stat().st_size for f in files)
    with pytest.raises(ValueError, match="same number of frames"):
        plot_start_times({"a": start_time_summary(p), "b": start_time_summary(p[:, :4])}, tmp_path)


@pytest.mark.slow
def test_tsne_figures_are_written(tmp_path):
    p = np.random.default_rng(0).uniform(size=(20, 8))
    starts = np.array([0, 1, NEVER] * 6 + [7, 7])
    assert plot_evolution_tsne(p, starts, tmp_path / "ev.png", "t")[0].is_file()
    with pytest.raises(ValueError, match="identical"):  # sklearn would crash the interpreter
        plot_evolution_tsne(np.ones((5, 8)), starts[:5], tmp_path / "same.png", "t")
    panels = alignment_points(stub_extras(1, 6, 2, 2, 3), torch.tensor([[0, 1] * 3]), [["a", "b"]])
    written = plot_alignment_tsne(panels, tmp_path, "toy")
    assert [f.name for f in written] == ["tsne_alignment_before.png", "tsne_alignment_after.png"]


def _summary(method: str, checkpoint: Path, **config):
    """A finished run's summary, as far as rebuilding its method needs."""
    import dataclasses

    from fsar_bench.methods import method_config
    from fsar_bench.results.summary import RunSummary, Setting

    setting = Setting(
        dataset="toy", way=2, shot=1, query=1, episodes=1, protocol="quick", seed=0, frames=8
    )
    return RunSummary(
        method=method,
        preset="quick",
        method_config=dataclasses.asdict(method_config(method, **config)),
        train_config={},
        setting=setting,
        features={},
        backbone="b",
        size=64,
        val_manifest="",
        manifest="",
        manifest_file="",
        accuracy={},
        interval_convention="",
        best_val=0.0,
        train_history=[],
        train_seconds=0.0,
        eval_seconds=0.0,
        versions={},
        device="cpu",
        checkpoint=str(checkpoint),
    )


def test_method_from_run_needs_extras_and_a_fitting_checkpoint(tmp_path):
    from safetensors.torch import save_file

    from fsar_bench.methods import create_method

    with pytest.raises(FsarError, match="exposes no embeddings"):
        method_from_run(_summary("protonet", tmp_path / "none"), 16)
    save_file(
        {k: v.contiguous() for k, v in create_method("ta2n", 8).state_dict().items()},
        str(tmp_path / "c8"),
    )
    with pytest.raises(FsarError, match="does not fit ta2n on 16-channel"):
        method_from_run(_summary("ta2n", tmp_path / "c8"), 16)
    method = method_from_run(_summary("ta2n", tmp_path / "c8", shots=1), 8)
    assert method.config.return_extras and method.config.shots == 1


def test_analyse_adds_references_confident_aem_and_onset():
    """With ground-truth records: references, confident subset, onset check and its ceiling."""
    from fsar_bench.analysis.measures.onset import confidence_onset
    from fsar_bench.analysis.measures.reference import aem_readings, progress_vectors
    from fsar_bench.analysis.measures.uncertainty import aem_within_class, confident_aem

    rng = np.random.default_rng(3)
    logits = rng.normal(0, 2, size=(10, 4, 3)).astype(np.float32)
    labels = [k % 3 for k in range(10)]
    probe = fake_probe(logits, labels, 3)  # sampled frames 1, 4, 7, 10 of 12
    starts = np.array([0, 2, 5, 0, 3, 8, 1, 0, 6, 2])
    records = []
    for s in starts:
        progress = [None] * 12
        for i in range(12 - s):
            progress[s + i] = (i + 0.5) / (12 - s)
        warp = {"knots": [0, 1], "values": [0, 1]}
        records.append(
            {"start_frame": int(s), "duration": int(12 - s), "progress": progress, "warp": warp}
        )
    r = analyse(probe, "synthetic-duration-mid", truth=starts, records=records).report
    written = json.loads(json.dumps(r.to_json(), allow_nan=False))  # strict JSON
    assert MisalignmentReport.from_json(written).to_json() == written  # reads back whole
    p = evolution(logits, np.array(labels))
    ref = aem_readings(progress_vectors(records, probe.indices))
    assert r.aem_reference.progress.aem_eq10_as_printed == ref.aem_eq10_as_printed
    assert r.aem_reference.warp.aem_eq10_as_printed == pytest.approx(0, abs=1e-12)
    assert r.aem_confident == confident_aem(p, logits, np.array(labels))
    assert r.aem_within_class.aem_eq10_as_printed == aem_within_class(p, np.array(labels))
    low, high = r.aem_interval_95
    assert low <= r.aem_eq10_as_printed <= high
    onset = confidence_onset(logits)
    assert r.onset.ground_truth == ground_truth_check(onset, probe.indices, starts)
    oracle = r.onset.oracle_ground_truth  # first sampled frame at or after the start
    assert oracle.never_reached == 0 and oracle.mean_error_frames >= 0
    assert oracle.mae_frames == pytest.approx(np.mean([1, 2, 2, 1, 1, 2, 0, 1, 1, 2]))
