"""The progress callback that every long stage takes (one definition for the whole package)."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: called as a stage advances, ``done`` of ``total`` units."""
