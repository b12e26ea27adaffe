"""``fsar-bench report``: tables and figures from stored results (see
:mod:`fsar_bench.report.build`; never re-runs a model).

The reference report in the repository (``reports/``) is made, from the repository root, by the
default synthetic run and one report command::

    fsar-bench run
    fsar-bench report --runs runs --out reports
"""

from __future__ import annotations

from pathlib import Path

import typer

from fsar_bench.commands.options import command
from fsar_bench.errors import FsarError
from fsar_bench.options.intervals import IntervalOptions

TABLE_FORMATS = ("md", "tex", "csv")  # fsar_bench.report.render.RENDER (not imported: --help)
FIGURE_FORMATS = ("png", "pdf", "svg")


def _choices(text: str, allowed: tuple[str, ...], option: str) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(t.strip().lower() for t in text.split(",") if t.strip()))
    bad = [c for c in chosen if c not in allowed]
    if bad or not chosen:
        raise FsarError(
            f"{option} {text!r}: unknown format {bad[0] if bad else '(none)'!r}; "
            f"give a comma-separated subset of {','.join(allowed)}"
        )
    return chosen


@command
def report(
    runs: Path = typer.Option(Path("runs"), "--runs", help="Results store (fsar-bench run)."),
    out: Path = typer.Option(Path("reports"), "--out", help="Where tables and figures go."),
    formats: str = typer.Option("md,tex,csv", "--format", help="Table formats: md,tex,csv."),
    figures: str = typer.Option("png", "--figures", help="Figure formats: png,pdf,svg."),
    baseline: str = typer.Option("protonet", help="Method that differences are taken against."),
    analysis: Path | None = typer.Option(
        None, "--analysis", help="Misalignment analysis outputs (default: OUT/analysis)."
    ),
    intervals: IntervalOptions = IntervalOptions(),
) -> None:
    """Tables and figures from stored results, with published numbers side by side."""
    from fsar_bench.methods import METHODS
    from fsar_bench.report.build import build_report

    table_formats = _choices(formats, TABLE_FORMATS, "--format")
    figure_formats = _choices(figures, FIGURE_FORMATS, "--figures")
    base = METHODS.get(baseline).name
    if not Path(runs).is_dir():
        raise FsarError(f"--runs {runs}: no such folder; run `fsar-bench run` first")
    options = {
        "--runs": runs,
        "--out": out,
        "--format": formats,
        "--figures": figures,
        "--baseline": baseline,
        "--analysis": analysis,
        "--ci": intervals.ci,
    }
    defaults = {
        "--format": "md,tex,csv",
        "--figures": "png",
        "--baseline": "protonet",
        "--ci": IntervalOptions().ci,
    }
    command = " ".join(
        ["fsar-bench report"]
        + [f"{k} {v}" for k, v in options.items() if v is not None and defaults.get(k) != v]
    )
    files = build_report(
        runs,
        out,
        formats=table_formats,
        baseline=base,
        analysis=analysis,
        figure_formats=figure_formats,
        command=command,
        intervals=intervals,
    )
    typer.echo(f"wrote {len(files)} files under {out} (index: {out / 'report.md'})")
