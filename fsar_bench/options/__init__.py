"""Command options, defined once for the command line and the Python API.

Each group of options is a keyword-only frozen dataclass; each field carries its default, its
command-line flags and its help (:func:`~fsar_bench.options.spelling.opt`).
:func:`fsar_bench.commands.options.command` turns the groups a command takes into its typer
options, builds each group once from what was typed and hands the command the built objects;
the Python API builds the same dataclasses from keyword arguments. An option therefore has one
default and one meaning wherever it is given. Groups: :mod:`~fsar_bench.options.common`
(data, compute, features), :mod:`~fsar_bench.options.run` (``run``, ``profile``, ``sweep``).

Importing this package imports neither typer, torch nor numpy.
"""
