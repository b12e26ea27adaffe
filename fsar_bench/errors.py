"""User-facing errors.

Every error a user can cause (bad name, missing file, malformed split line, impossible protocol)
is raised as :class:`FsarError` with a one-line message that says what went wrong, where, and how
to fix it. The CLI prints it without a traceback and exits with status 2.
"""

from __future__ import annotations

from collections.abc import Iterable


class FsarError(Exception):
    """A user-facing error with a one-line message."""

    exit_code = 2


def require(checks: Iterable[tuple[bool, str]], what: str) -> None:
    """Raise one :class:`FsarError` naming every failed check: ``invalid {what}: a; b``.

    Args:
        checks: ``(condition, message)`` pairs; the messages of the false ones are joined.
        what: what was checked, e.g. ``"training settings (train.*)"``.
    """
    problems = [message for ok, message in checks if not ok]
    if problems:
        raise FsarError(f"invalid {what}: {'; '.join(problems)}")
