"""Logs a job scheduler can read: plain (or JSON) lines when the output is not a terminal, each
cell's result as soon as it is known, bars on a terminal, nothing but results with --quiet."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fsar_bench.options.common import OutputOptions
from fsar_bench.presentation import reporter as common
from fsar_bench.presentation.logs import Lines
from fsar_bench.progress import emit, note, prefixed


def _lines(fmt: str = "text", every: float = 30.0) -> tuple[Lines, io.StringIO]:
    out = io.StringIO()
    return Lines("ds", "videos", out, fmt, every), out


def test_a_line_per_phase_change_and_phase_end_progress_throttled():
    log, out = _lines()
    log("extract train", 0, 100)
    for done in range(1, 100):
        log("extract train", done, 100)  # well within 30 s: no progress line
    log("extract train", 100, 100)
    log("train protonet-5w1s", 0, 1000, unit="episodes", val=float("nan"), lr=1e-3)
    text = out.getvalue().splitlines()
    assert len(text) == 3, text
    assert "| start extract train | 0/100 (0%)" in text[0]
    assert "| extract train | 100/100 (100%) | done in" in text[1]
    assert "start train protonet-5w1s | 0/1000 (0%) | lr 0.001" in text[2]
    assert "val" not in text[2]  # no validation yet (NaN) is not printed


def test_progress_lines_carry_rate_time_left_validation_and_learning_rate():
    log, out = _lines(every=0.05)
    log("train otam-5w1s", 0, 400, unit="episodes")
    time.sleep(0.1)
    log("train otam-5w1s", 100, 400, unit="episodes", val=41.25, lr=1e-4, loss=1.5)
    last = out.getvalue().splitlines()[-1]
    assert "train otam-5w1s | 100/400 (25%) |" in last
    assert " episodes/s | left " in last and "val 41.25% | lr 0.0001 | loss 1.5" in last


def test_json_lines_are_strict_json_objects():
    log, out = _lines("json", every=0.01)
    log("train a", 0, 10, val=float("nan"))
    time.sleep(0.02)
    log("train a", 5, 10, val=50.0, lr=0.1)
    note(log, "extract cache", "1.2 GB")
    log.final("table")
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [e["event"] for e in events] == ["phase", "progress", "note", "end"]
    assert events[0]["val"] is None and events[1]["val"] == 50.0
    assert events[1]["rate"] > 0 and events[1]["eta_s"] >= 0 and events[1]["total"] == 10
    assert events[2]["text"] == "1.2 GB" and events[3]["text"] == "table"
    assert all(e["command"] == "ds" and e["time"] for e in events)


def test_the_heartbeat_writes_a_line_when_the_work_reports_nothing():
    log, out = _lines(every=0.05)
    log.beat.start()
    try:
        log("test a", 3, 10)
        time.sleep(0.5)  # no call meanwhile: the heartbeat repeats the figures
    finally:
        log.stopped.set()
    assert sum("| test a | 3/10 (30%)" in line for line in out.getvalue().splitlines()) >= 1


def test_details_reach_listeners_that_take_them_only():
    plain: list[tuple] = []
    emit(lambda s, d, t: plain.append((s, d, t)), "x", 1, 2, val=3.0)
    note(lambda s, d, t: plain.append("called"), "x", "text")
    assert plain == [("x", 1, 2)]
    log, out = _lines()
    prefixed(log, "extract", unit="videos")("test", 0, 5)
    assert "start extract test | 0/5" in out.getvalue()


def test_the_reporter_follows_the_streams_and_the_options(monkeypatch):
    monkeypatch.setattr(common, "_is_terminal", lambda stream: True)
    with common.progress("ds") as report:
        assert isinstance(report, common.Bars)
    with common.progress("ds", output=OutputOptions(log_format="json")) as report:
        assert isinstance(report, Lines) and report.stream is sys.stdout
    monkeypatch.setattr(common, "_is_terminal", lambda stream: stream is not sys.stdout)
    with common.progress("ds") as report:  # fsar-bench run > log
        assert isinstance(report, Lines) and report.stream is sys.stdout
    monkeypatch.setattr(common, "_is_terminal", lambda stream: stream is sys.stdout)
    with common.progress("ds") as report:  # 2> log: lines where the bars would have gone
        assert isinstance(report, Lines) and report.stream is sys.stderr
    with common.progress("ds", output=OutputOptions(quiet=True)) as report:
        assert isinstance(report, common.Silent) and report.show_results


def test_bad_output_options_are_one_line_errors():
    from fsar_bench.errors import FsarError

    with pytest.raises(FsarError, match="--log-format 'xml'"):
        OutputOptions(log_format="xml")
    with pytest.raises(FsarError, match="--log-every 0"):
        OutputOptions(log_every=0)


def _tiny_data(tmp_path: Path) -> Path:
    from fsar_bench.data.synthetic import generate, preset

    config = preset(
        "mid",
        train_classes=2,
        val_classes=2,
        test_classes=2,
        videos_per_class=3,
        frames=8,
        size=64,
    )
    return generate(tmp_path / "data", config)


@pytest.mark.slow
def test_run_into_a_file_shows_phases_training_and_each_result_before_the_end(tmp_path):
    """``fsar-bench run > log``: stdout is a pipe (not a terminal)."""
    data = _tiny_data(tmp_path)
    args = ["run", "--methods", "protonet,otam", "--shots", "1", "--way", "2"]
    args += ["--episodes", "4", "--size", "64", "--data-root", str(data), "--workers", "0"]
    args += ["--cache-dir", str(tmp_path / "cache"), "--runs-dir", str(tmp_path / "runs")]
    for s in ("train.episodes=8", "train.val_every=4", "train.val_episodes=2", "train.batch=1"):
        args += ["--set", s]
    code = "import sys; from fsar_bench.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args, "--log-every", "0.01"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = [line.rstrip("\n") for line in proc.stdout]  # in the order they were written
    assert proc.wait() == 0, proc.stderr.read()
    where = {
        key: next(i for i, ln in enumerate(lines) if key in ln)
        for key in (
            "| extract cache: ",  # the cache size estimate, before extracting
            "| start extract train",
            "| start train protonet-2w1s",
            "| result protonet 2-way 1-shot",
            "| start train otam-2w1s",
            "| result otam 2-way 1-shot",
            "results: ",  # the last line of the final output
        )
    }
    order = list(where.values())
    assert order == sorted(order), where  # protonet's result is out before otam trains
    training = [ln for ln in lines if "| train protonet-2w1s |" in ln]
    assert any(" episodes/s" in ln and "| val " in ln and "| lr " in ln for ln in training)
    assert all(ln.startswith("[") for ln in lines[: where["| result otam 2-way 1-shot"]])
