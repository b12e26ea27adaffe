"""User-facing errors.

Every error a user can cause (bad name, missing file, malformed split line, impossible protocol)
is raised as :class:`FsarError` with a one-line message that says what went wrong, where, and how
to fix it. The CLI prints it without a traceback and exits with status 2.
"""

from __future__ import annotations


class FsarError(Exception):
    """A user-facing error with a one-line message."""

    exit_code = 2
