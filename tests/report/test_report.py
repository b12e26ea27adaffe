"""``fsar-bench report`` on stored results fabricated through the real file formats (no model)."""

from __future__ import annotations

import csv
import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from toys import EPISODES, QUERY, fake_run, flat, md_table

from fsar_bench.report.build import build_report
from fsar_bench.report.figures import class_gain
from fsar_bench.results.summary import RunSummary, read_summary

SYNTHETIC = ("synthetic-none", "synthetic-low", "synthetic-high")
TA2N = {"ttm": True, "tc": True, "sc": True, "sc_design": "mask", "shots": 1}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """protonet and ta2n on ucf101 (1 and 5 shots), a TA2N and an OTAM ablation, synthetic."""
    runs = tmp_path_factory.mktemp("runs")
    acc = {}
    for shot in (1, 5):
        acc["protonet", shot] = fake_run(runs, "ucf101", "protonet", shot, flat(0.5))[1]
        acc["ta2n", shot] = fake_run(runs, "ucf101", "ta2n", shot, flat(0.7), TA2N)[1]
    fake_run(runs, "ucf101", "ta2n", 1, flat(0.6), {**TA2N, "tc": False, "sc": False})
    fake_run(runs, "ucf101", "ta2n", 1, flat(0.4), {**TA2N, "ttm": False, "tc": False, "sc": False})
    for matching in ("otam", "min"):
        fake_run(runs, "ucf101", "otam", 1, flat(0.6), {"matching": matching})
    for level, p in (("none", 0.8), ("low", 0.7), ("high", 0.4)):
        fake_run(runs, f"synthetic-{level}", "trn", 1, flat(p))
        fake_run(runs, f"synthetic-{level}", "otam", 1, flat(p + 0.1), {"matching": "otam"})
    return runs, acc


def write_analysis(folder: Path, datasets: tuple[str, ...]) -> None:
    """``<folder>/<dataset>/aem.json`` as the misalignment analysis writes them."""
    from conftest import misalignment_report
    from fsar_bench.analysis.measures.start_times import start_time_summary

    p = np.random.default_rng(0).random((30, 8))
    for dataset in datasets:
        report = misalignment_report(dataset, aem=0.1, ref=None, videos=30, starts=(0,) * 8)
        report = dataclasses.replace(report, start_times=start_time_summary(p))
        (folder / dataset).mkdir(parents=True)
        (folder / dataset / "aem.json").write_text(json.dumps(report.to_json()))


@pytest.fixture(scope="module")
def report(store, tmp_path_factory):
    """The report of ``store``, built once; also what it left in pyplot and rcParams."""
    import matplotlib
    from matplotlib import pyplot as plt

    out = tmp_path_factory.mktemp("report")
    write_analysis(out / "analysis", ("synthetic-low", "ucf101"))
    style = {k: v for k, v in matplotlib.rcParams.items() if k != "backend"}
    before = set(plt.get_fignums())  # another test (the API notebook) may have left its own
    files = build_report(store[0], out)
    changed = style != {k: v for k, v in matplotlib.rcParams.items() if k != "backend"}
    opened = sorted(set(plt.get_fignums()) - before)
    return out, files, {"figures_open": opened, "rc_changed": changed}


PUBLISHED = Path(__file__).parents[2] / "fsar_bench/data/reference/published_results.csv"


def test_main_markdown_rows_measured_and_published(report, store):
    head, rows = md_table(report[0] / "tables/main.md")
    ucf = [head.index(f"ucf101 {k}-shot") for k in (1, 5)]
    measured = {r[0]: r for r in rows if r[2] == "measured"}
    assert list(measured) == ["protonet", "trn", "otam", "ta2n"]  # ablation runs stay out
    for method in ("protonet", "ta2n"):
        for col, shot in zip(ucf, (1, 5)):
            assert measured[method][col].startswith(f"{store[1][method, shot].mean():.2f} ± ")
    # oracle: the CSV read with the csv module; matched = mapped names of measured methods
    mapped = {"ProtoNet": "protonet", "TA2N": "ta2n", "OTAM": "otam"}
    main = {("TA2N", "Table 2"), ("OTAM", "Table 1"), ("ITA+circle loss", "Table 4")}
    ref = [
        r
        for r in csv.DictReader(PUBLISHED.open())
        if r["dataset"] == "ucf101" and (r["source"].split(" (")[0], r["table"]) in main
    ]
    want = {
        (mapped.get(r["method"], r["method"]), r["table"], r["shot"]): r["accuracy"] for r in ref
    }
    pub = [r for r in rows if r[2] != "measured"]
    got = {
        (r[0], r[2][-7:], str(k)): r[c].split(" ±")[0]
        for r in pub
        for c, k in zip(ucf, (1, 5))
        if r[c]
    }
    assert got == want
    assert [r[0] for r in pub[:3]] == ["protonet", "otam", "ta2n"]  # matched block first
    assert len(pub) == len({(r["source"], r["method"]) for r in ref})


def test_every_table_states_its_protocol(report, store):
    digest = json.loads(next(store[0].glob("ucf101/ta2n-*/summary.json")).read_text())["manifest"]
    texts = {p.stem: p.read_text() for p in (report[0] / "tables").glob("*.md")}
    assert "30 videos x 8 frames" in texts.pop("misalignment")  # its protocol: the probe's
    for name, text in texts.items():
        for needle in ("5-way", f"{EPISODES} test episodes", "8 frames", "toy-net @ 32px"):
            assert needle in text, (name, needle)
    assert digest[:12] in (report[0] / "tables/main.md").read_text()


def test_latex_rows_have_as_many_cells_as_header(report):
    texs = sorted((report[0] / "tables").glob("*.tex"))
    assert {p.stem for p in texs} >= {"main", "paired", "ablation_ta2n_modules"}
    for path in texs:
        lines = path.read_text().splitlines()
        spec = re.search(r"\\begin\{tabular\}\{(\w+)\}", "\n".join(lines)).group(1)
        rows = [ln for ln in lines if ln.endswith(r"\\") and "&" in ln]
        assert rows, path.name
        for ln in rows:
            assert len(re.findall(r"(?<!\\)&", ln)) == len(spec) - 1, (path.name, ln)
        assert not re.search(r"(?<!\\)[_%#]", "\n".join(rows)), path.name  # escaped


def test_csv_tables_parse_with_comment_lines(report):
    md = md_table(report[0] / "tables/main.md")[1]
    df = pd.read_csv(report[0] / "tables/main.csv", comment="#")
    assert len(df) == len(md) and list(df.columns[:3]) == ["method", "backbone", "source"]
    runs = pd.read_csv(report[0] / "tables/runs.csv")
    assert len(runs) == 4 + 2 + 2 + 6 and {"manifest", "episodes", "frames", "ci95"} <= set(
        runs.columns
    )


def test_ablation_tables(report):
    rows = md_table(report[0] / "tables/ablation_ta2n_modules.md")[1]
    measured = [r[1:4] for r in rows if r[4] == "measured"]
    assert measured == [["", "", ""], ["✓", "", ""], ["✓", "✓", "✓"]]  # paper's row order
    baseline = [r for r in rows if r[4] == "TA2N Table 3" and r[1:4] == ["", "", ""]]
    assert baseline[0][0] == "ta2n" and baseline[0][5] == "74.0"  # ucf101 1-shot, matched
    otam = md_table(report[0] / "tables/ablation_otam_matching.md")[1]
    assert [r[1] for r in otam if r[2] == "measured"] == ["min", "otam"]
    assert not (report[0] / "tables/ablation_ta2n_sc_design.md").exists()
    index = (report[0] / "report.md").read_text()
    assert "needs ta2n runs with at least two settings of sc_design" in index


def test_paired_difference_is_the_mean_episode_difference(report, store):
    rows = md_table(report[0] / "tables/paired.md")[1]
    row = next(r for r in rows if r[0] == "ta2n - protonet" and r[2] == "5-shot")
    d = store[1]["ta2n", 5] - store[1]["protonet", 5]
    assert row[3] == "1"  # one training each: the episode-level columns mean what they say
    assert row[4].startswith(f"{d.mean():+.2f} ± ")
    assert row[-1] == f"{(d > 0).sum()}/{(d < 0).sum()}"
    win = ((d > 0) + 0.5 * (d == 0)).mean()  # P(A > B), ties half
    assert row[6].startswith(f"{win:.3f} [")


def test_runs_of_one_method_in_one_cell_are_told_apart(tmp_path):
    from fsar_bench.report.runs import collect
    from fsar_bench.report.tables import main_table

    for lam in (0.05, 0.1):
        fake_run(tmp_path, "toy", "otam", 1, flat(0.5), {"matching": "otam", "lam": lam})
    rows = main_table(collect(tmp_path)).rows
    assert [r[0] for r in rows] == ["otam (lam=0.05)", "otam (lam=0.1)"]


def test_latex_and_markdown_escaping():
    from fsar_bench.presentation.tables import Table, latex_escape, to_markdown

    assert latex_escape("a_b & 5% #1 {x} 2 ± 1 ✓") == (
        r"a\_b \& 5\% \#1 \{x\} 2 $\pm$ 1 $\checkmark$"
    )
    md = to_markdown(
        Table(name="t", title="T", header=["a", "b"], rows=[["x|y", "1"]], notes=["note"])
    )
    assert "| x\\|y | 1 |" in md and "- note" in md


def test_class_gain_against_constructed_skills(tmp_path):
    good = {"class0", "class1"}
    a, _ = fake_run(tmp_path, "toy", "ta2n", 1, lambda c: float(c in good))
    b, _ = fake_run(tmp_path, "toy", "protonet", 1, lambda c: float(c == "class0"))
    summaries = [read_summary(r.path) for r in (a, b)]
    gain = class_gain(*summaries).set_index("class")
    expected = {c: 100.0 if c == "class1" else 0.0 for c in gain.index}
    assert gain["gain"].to_dict() == expected
    manifest = json.loads(next((tmp_path / "toy/manifests").glob("*.json")).read_text())
    counts = {}
    for ep in manifest["episodes"]:
        for c in ep["classes"]:
            counts[c] = counts.get(c, 0) + QUERY
    assert gain["queries"].to_dict() == counts


def test_figures_are_pngs_and_leave_no_pyplot_state(report):
    pngs = [f for f in report[1] if f.suffix == ".png"]
    assert {p.name for p in pngs} == {
        "class_gain_ucf101_5w1s.png",
        "class_gain_ucf101_5w5s.png",
        "accuracy_vs_misalignment.png",
        "start_times.png",
        *(f"learning_curves_{d}.png" for d in ("ucf101", *SYNTHETIC)),
    }
    for p in pngs:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 10_000
    assert report[2] == {"figures_open": [], "rc_changed": False}
    gain = pd.read_csv(report[0] / "figures/class_gain_ucf101_5w1s.csv")
    assert set(gain["method"]) == {"otam", "ta2n"} and len(gain) == 2 * 8


def test_misalignment_table(report):
    head, rows = md_table(report[0] / "tables/misalignment.md")
    assert head[1:] == ["ucf101", "synthetic-low", "hmdb51", "ssv2-full"]  # measured first
    published_row = next(r for r in rows if r[0].startswith("published"))
    assert published_row[1:] == ["0.1653", "", "0.3697", "0.6260"]  # the paper's digits


def test_learning_curves_are_the_main_runs_histories(report, store):
    rows = pd.read_csv(report[0] / "figures/learning_curves_ucf101.csv")
    assert set(rows["label"]) == {"protonet", "ta2n", "otam"}  # ablation variants left out
    for (label, shot), g in rows.groupby(["label", "shot"]):
        run = next(
            p
            for p in (store[0] / "ucf101").glob(f"{label}-5w{shot}s-*")
            if read_summary(p).method_config.get("tc", True)
            and read_summary(p).method_config.get("matching", "otam") == "otam"
        )
        history = read_summary(run).train_history
        assert g["step"].tolist() == [h["step"] for h in history]
        assert g["val"].tolist() == pytest.approx([h["val"] for h in history])
        assert set(g["stop_reason"]) == {"plateau"}
    assert "learning_curves_ucf101.png" in (report[0] / "report.md").read_text()


def test_runs_folder_of_symlinked_runs(tmp_path, store):
    """A runs folder assembled from links to runs stored elsewhere (the reference report is built
    this way) reports them under the folder's own names."""
    src = next((store[0] / "ucf101").glob("protonet-5w1s-*"))
    (tmp_path / "runs" / "ucf101").mkdir(parents=True)
    (tmp_path / "runs" / "ucf101" / src.name).symlink_to(src)
    (tmp_path / "runs" / "ucf101" / "manifests").symlink_to(src.parent / "manifests")
    build_report(tmp_path / "runs", tmp_path / "out")
    runs = pd.read_csv(tmp_path / "out" / "tables" / "runs.csv")
    assert runs["dir"].tolist() == [f"ucf101/{src.name}"]


def test_older_summaries_without_stop_reason_still_read(tmp_path, store):
    src = next((store[0] / "ucf101").glob("protonet-5w1s-*"))
    data = json.loads((src / "summary.json").read_text())
    for key in ("stop_reason", "train_episodes"):
        data.pop(key)
    for h in data["train_history"]:
        h.pop("lr")
    old = RunSummary.from_json(data, src)
    assert old.stop_reason == "" and old.train_episodes == 0 and len(old.train_history) == 4


def test_cli_exit_codes_and_missing_analysis(tmp_path, capsys):
    from fsar_bench import cli
    from fsar_bench.commands.report import TABLE_FORMATS
    from fsar_bench.presentation.tables import RENDER

    assert TABLE_FORMATS == tuple(RENDER)

    for method in ("protonet", "otam"):
        fake_run(tmp_path / "runs", "toy", method, 1, flat(0.5))
    args = ["report", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "out")]
    assert cli.main(args) == 0
    index = (tmp_path / "out/report.md").read_text()
    assert "misalignment table: no <analysis>" in index and "class_gain_toy_5w1s.png" in index
    capsys.readouterr()
    assert cli.main([*args, "--format", "md,xls"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'xls'" in err
    assert cli.main(["report", "--runs", str(tmp_path / "nothing")]) == 2


def test_a_figure_stem_keeps_a_dotted_level(tmp_path):
    """A synthetic level such as 0.5 is part of a figure's name, not a suffix to replace."""
    from matplotlib.figure import Figure

    from fsar_bench.presentation.figures import save_figure, save_figure_at

    stem = tmp_path / "figs" / "class_gain_synthetic-evolution-0.5_5w1s"
    files = save_figure(Figure(), stem, ("png", "pdf"))
    assert [f.name for f in files] == [f"{stem.name}.png", f"{stem.name}.pdf"]
    assert all(f.is_file() for f in files)
    at = save_figure_at(Figure(), tmp_path / "start_times.png", pdf=True)
    assert [f.name for f in at] == ["start_times.png", "start_times.pdf"]
