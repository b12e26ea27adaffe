"""The spelling of an option: one dataclass field, its default, its flags and its help.

:func:`opt` makes a group's field; :func:`spelling` reads it back
(:func:`fsar_bench.commands.options.command` turns it into a typer option). Imports nothing
heavy.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from fsar_bench.seeds import SEED_MAX  # noqa: F401 (the groups' bound on every --seed)

OPTION = "fsar_bench.option"  # the metadata key of a field's command-line spelling


@dataclass(frozen=True, kw_only=True)
class Spelling:
    """How a field is typed on the command line.

    Attributes:
        flags: ``("--way",)``, ``("--methods", "-m")``; empty for a positional argument.
        help: the help text.
        cli_type: the type typer parses (``None``: the field's annotation), e.g. ``str`` for a
            comma-separated field that the group turns into a tuple.
        minimum: smallest value typer accepts (``None``: no bound).
        maximum: largest value typer accepts (``None``: no bound).
    """

    flags: tuple[str, ...]
    help: str
    cli_type: Any = None
    minimum: int | None = None
    maximum: int | None = None


def opt(
    default: Any,
    *flags: str,
    help: str,
    cli_type: Any = None,
    minimum: int | None = None,
    maximum: int | None = None,
) -> Any:
    """A dataclass field with its command-line spelling (``flags`` empty: an argument).

    A list default (``--set`` may be given several times) becomes a tuple on the dataclass,
    which is frozen; typer is given an empty list.
    """
    spelling = Spelling(flags=flags, help=help, cli_type=cli_type, minimum=minimum, maximum=maximum)
    meta = {OPTION: spelling}
    if isinstance(default, list):
        return dataclasses.field(default=tuple(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def spelling(field: dataclasses.Field) -> Spelling | None:
    """The command-line spelling of a group's field (``None``: not a command-line option)."""
    return field.metadata.get(OPTION)


def csv_items(value: str | Any) -> tuple:
    """``"a, b,,c"`` -> ``("a", "b", "c")``; a sequence (the Python API) -> its tuple."""
    if isinstance(value, str):
        return tuple(t.strip() for t in value.split(",") if t.strip())
    return tuple(value)


def set_field(group: Any, name: str, value: Any) -> None:
    """Normalise a field of a frozen group in its ``__post_init__``."""
    object.__setattr__(group, name, value)
