"""Every write site, a kill and a full disk: the rerun gives the uninterrupted run's bytes.

Practice of SQLite's and PostgreSQL's crash tests: each place the suite writes a file is a test
point, not a sample of them. For every site a command is started with ``FSAR_FAULT`` (see
:mod:`fsar_bench.faults`): ``kill`` sends the process ``SIGKILL`` after the file's temporary
copy is written and before it is renamed (for the records file: halfway through an append),
``enospc`` raises ``OSError(ENOSPC)`` there. A kill must kill it (the site was reached), a full
disk must end it with a one-line error and exit status 2. The same command run again must then
finish and leave every file exactly as an uninterrupted run leaves it (the folder's own path
and wall-clock timings aside), with no temporary left behind.

Stages start from a copy of what the uninterrupted reference had made before them: ``data``
generates the tiny dataset; ``run`` runs from the generated data (index, features, training,
evaluation); ``cached`` runs from the extracted features; ``report`` and ``aem`` from the finished
runs; ``profile`` from the runs and the probe; ``sweep`` (its files, written from two copies of the
reference profile) from the profile. (The index is not copied: its file name hashes the data root's
absolute path; every stage builds its own.)
"""

from __future__ import annotations

import pytest
from faultkit import (
    AEM,
    ANALYSED,
    KILLED,
    PROFILE,
    REPORT,
    RUN,
    copy_tree,
    differences,
    snapshot,
)

RUN_PARTS = ("data", "cache/index", "cache/features", "cache/checkpoints", "runs")
REPORT_PARTS = ("reports/tables", "reports/figures", "reports/report.md")
REPORT_PARTS += ("reports/.fsar-report.json",)
STAGES = {  # stage: (parts copied from the reference, command, parts compared)
    "data": ((), "tiny_data", ("data",)),
    "run": (("data",), RUN, RUN_PARTS),
    "cached": (("data", "cache/features"), RUN, RUN_PARTS),
    "report": (("data", "cache/features", "cache/checkpoints", "runs"), REPORT, REPORT_PARTS),
    "aem": (("data", "cache/features", "runs"), AEM, ("reports/analysis", "cache/probes")),
    "profile": (ANALYSED, PROFILE, ("reports/profile",)),
    "sweep": (("reports/profile",), "tiny_sweep", ("reports/sweep-evolution",)),
}
SITES = [  # (stage, file pattern of FSAR_FAULT): every write site of the suite
    ("data", "*/data/config.json"),
    ("data", "*/frames/*"),
    ("data", "trainlist.txt"),
    ("data", "ground_truth.jsonl"),
    ("data", "classes.json"),
    ("data", "COMPLETE"),
    ("run", "*/cache/index/*.json"),
    ("run", "*/features/*/settings.json"),
    ("run", "shard-*.safetensors"),
    ("run", "failed.txt"),
    ("run", "meta.json"),
    ("cached", "test-*.json"),
    ("cached", "val-*.json"),
    ("cached", "best.safetensors"),
    ("cached", "last.safetensors"),
    ("cached", "*/checkpoints/*/timing.json"),
    ("cached", "*/runs/*/config.json"),
    ("cached", "episodes.jsonl"),
    ("cached", "*/runs/*/timing.json"),
    ("cached", "summary.json"),
    ("report", "*/tables/*.md"),
    ("report", "*/tables/*.tex"),
    ("report", "*/tables/main.csv"),
    ("report", "runs.csv"),
    ("report", "*/figures/*.csv"),
    ("report", "*/figures/*.png"),
    ("report", "report.md"),
    ("report", ".fsar-report.json"),
    ("aem", "*/probes/*/settings.json"),
    ("aem", "*/probes/*/last.safetensors"),
    ("aem", "probe.safetensors"),
    ("aem", "train.json"),
    ("aem", "scores.npz"),
    ("aem", "aem.json"),
    ("aem", "aem_per_class.csv"),
    ("aem", "start_times.csv"),
    ("aem", "start_times.png"),
    ("aem", "tsne_evolution.png"),
    ("profile", "profile.json"),
    ("sweep", "sweep.csv"),
    ("sweep", "sweep.json"),
    ("sweep", "sweep_*.png"),
]
PROFILED = {"profile", "sweep"}  # stages copied from the profiled reference
FAST = {("cached", "kill")}  # the rest (other stages rebuild more; a full disk): marked slow


def _cases() -> list:
    return [
        pytest.param(
            stage,
            pattern,
            action,
            marks=() if (stage, action) in FAST else (pytest.mark.slow,),
            id=f"{stage}-{action}-{pattern}",
        )
        for stage, pattern in SITES
        for action in ("kill", "enospc")
    ]


def temporaries(root) -> list[str]:
    return [p.name for p in root.rglob(".*.tmp")] + [p.name for p in root.rglob(".*.partial")]


@pytest.mark.parametrize("stage,pattern,action", _cases())
def test_a_fault_at_a_write_site_then_a_rerun_gives_the_same_bytes(
    request, bench, stage, pattern, action
):
    reference = request.getfixturevalue("profiled" if stage in PROFILED else "reference")
    copied, command, compared = STAGES[stage]
    copy_tree(reference.root, bench.root, copied)
    code = bench.run(command, fault=f"{action}:{pattern}")
    if action == "kill":
        assert code == KILLED, f"the fault point {pattern} was not reached: {bench.log()[-2000:]}"
    else:
        error = bench.last_error()
        assert code == 2 and "the disk is full" in error, bench.log()[-2000:]
    assert bench.run(command) == 0, bench.log()[-3000:]
    got, want = snapshot(bench.root, compared), snapshot(reference.root, compared)
    assert not differences(got, want), differences(got, want)
    assert not temporaries(bench.root)


def test_a_kill_while_the_torn_records_are_rewritten(reference, bench):
    """The records rewrite (a torn last line dropped) is a write site of its own: killed
    during it, the next run still ends with the uninterrupted records."""
    copy_tree(reference.root, bench.root, STAGES["cached"][0])
    assert bench.run(RUN, fault="kill:episodes.jsonl") == KILLED  # halfway through an append
    records = next(bench.root.glob("runs/*/*/episodes.jsonl"))
    assert not records.read_bytes().endswith(b"\n")  # the torn line
    assert bench.run(RUN, fault="kill:episodes.jsonl") == KILLED  # in the rewrite
    assert bench.run(RUN) == 0, bench.log()[-3000:]
    got, want = snapshot(bench.root, RUN_PARTS), snapshot(reference.root, RUN_PARTS)
    assert not differences(got, want), differences(got, want)
