"""Typer commands from option groups (:mod:`fsar_bench.options`).

:func:`command` reads a function's parameters: a parameter annotated with a group (a dataclass
whose fields carry their spelling) becomes that group's options; any other parameter is a
plain typer parameter. On a call the groups are built once from what was typed and passed to
the function, so every command that takes a group reads its options the same way. Two groups
that spell the same flag in one command are refused when the command is defined.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any

import typer

from fsar_bench.options.spelling import spelling


def _parameter(field: dataclasses.Field, hint: Any) -> inspect.Parameter:
    """The typer parameter of one group field."""
    spell = spelling(field)
    default = field.default
    if spell.flags:
        value = list(default) if isinstance(default, tuple) else default
        info = typer.Option(
            value, *spell.flags, help=spell.help, min=spell.minimum, max=spell.maximum
        )
    else:
        info = typer.Argument(default, help=spell.help)
    if isinstance(default, tuple):
        hint = list[str]
    kind = inspect.Parameter.KEYWORD_ONLY
    return inspect.Parameter(field.name, kind, default=info, annotation=spell.cli_type or hint)


def group_parameters(group: type) -> list[inspect.Parameter]:
    """The typer parameters of a group's fields that have a spelling."""
    hints = typing.get_type_hints(group)
    fields = [f for f in dataclasses.fields(group) if spelling(f) is not None]
    return [_parameter(f, hints[f.name]) for f in fields]


def _flags(param: inspect.Parameter) -> tuple[str, ...]:
    info = param.default
    names = (
        (getattr(info, "param_decls", None) or ()) if info is not inspect.Parameter.empty else ()
    )
    return tuple(names) or (param.name,)


def _check_unique(params: list[inspect.Parameter], where: str) -> None:
    """Refuse a parameter name or a flag that two groups (or a group and the command) define."""
    seen: set[str] = set()
    for p in params:
        for key in {p.name, *_flags(p)}:
            if key in seen:
                raise TypeError(f"{where}: option {key!r} is defined twice")
            seen.add(key)


def command(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A typer command taking ``fn``'s option groups as options (see the module docstring)."""
    hints = typing.get_type_hints(fn)
    groups: dict[str, type] = {}
    params: list[inspect.Parameter] = []
    for p in inspect.signature(fn).parameters.values():
        kind = hints.get(p.name)
        if isinstance(kind, type) and dataclasses.is_dataclass(kind):
            groups[p.name] = kind
            params += group_parameters(kind)
        else:
            params.append(p.replace(annotation=kind, kind=inspect.Parameter.KEYWORD_ONLY))
    _check_unique(params, fn.__name__)

    @functools.wraps(fn)
    def wrapper(**typed: Any) -> Any:
        built = {}
        for name, group in groups.items():
            names = [f.name for f in dataclasses.fields(group) if spelling(f) is not None]
            built[name] = group(**{n: _frozen(typed.pop(n)) for n in names})
        return fn(**typed, **built)

    del wrapper.__wrapped__  # typer reads the signature below, not fn's
    wrapper.__signature__ = inspect.Signature(params)
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    return wrapper


def _frozen(value: Any) -> Any:
    """Lists typer collects (``--set`` given several times) as tuples, for frozen groups."""
    return tuple(value) if isinstance(value, list) else value
