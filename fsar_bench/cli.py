"""The ``fsar-bench`` command line: a thin layer over the library.

Every command lives in :mod:`fsar_bench.commands` and only parses options, builds the one
:class:`~fsar_bench.source.DataSource` it needs and calls library functions. Start-up is
fast: ``--help`` and ``ls`` import neither torch nor numpy; each command imports what it needs
when it runs. User errors print one line (what, where, how to fix) and exit 2.
"""

from __future__ import annotations

import sys

import typer

from fsar_bench.commands import analysis, data, extract, report, run, sweep
from fsar_bench.cpu import tune_cpu
from fsar_bench.errors import FsarError

app = typer.Typer(
    name="fsar-bench",
    help="Benchmark and misalignment analysis for few-shot action recognition.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("ls")(data.ls)
app.command("prepare")(data.prepare)
app.command("episodes")(data.episodes)
app.command("extract")(extract.extract)
app.command("run")(run.run)
app.command("report")(report.report)
app.command("aem")(analysis.aem)
app.command("start-times")(analysis.start_times)
app.command("tsne")(analysis.tsne)
app.command("profile")(sweep.profile)
app.command("sweep")(sweep.sweep)


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the app and turns user errors into one line and exit status 2."""
    tune_cpu()  # before torch is imported by any command
    try:
        code = app(args=argv, standalone_mode=False, prog_name="fsar-bench")
    except FsarError as err:
        typer.echo(f"error: {err}", err=True)
        return err.exit_code
    except (typer.Abort, KeyboardInterrupt):
        return _interrupted()
    except typer.exceptions.TyperException as err:  # usage errors: one line too, exit 2
        ctx = getattr(err, "ctx", None)
        where = ctx.command_path if ctx is not None else "fsar-bench"
        message = " ".join(err.format_message().split())
        if not message:  # no arguments: the help was shown
            return err.exit_code
        typer.echo(f"error: {message} (see '{where} --help')", err=True)
        return err.exit_code
    if code == 130:  # typer turns Ctrl-C inside a command into exit code 130
        return _interrupted()
    return code if isinstance(code, int) else 0


def _interrupted() -> int:
    typer.echo("interrupted; run the same command again to continue", err=True)
    return 130


if __name__ == "__main__":
    sys.exit(main())
