"""How long commands report: progress bars on a terminal, plain lines a job scheduler can log.

:func:`fsar_bench.presentation.reporter.progress` picks, from the streams and
:class:`~fsar_bench.options.common.OutputOptions`:

* both stdout and stderr are terminals, text format: rich progress bars on stderr
  (:class:`Bars`), with notes and results printed above them;
* otherwise (``fsar-bench run > log``, a batch job) or ``--log-format json``: :class:`Lines`,
  one line per event on stdout (on stderr when only stderr is redirected): a line when a phase
  starts and when it ends, and a progress line at least every ``--log-every`` seconds while one
  runs (a heartbeat repeats the last figures if the work reports nothing for that long), with
  done/total, the rate and the estimated time left, and for training the latest validation
  accuracy, learning rate and loss; each cell's result as soon as it is known;
* ``--quiet``: no progress at all; the results only.

Text lines: ``[YYYY-MM-DD hh:mm:ss] synthetic-mid | train protonet-5w1s | 3000/20000 (15%) |
52.1 episodes/s | left 5m26s | val 41.20% | lr 0.001``. JSON lines: one object per line with
``time``, ``command``, ``event`` (``phase``, ``progress``, ``done``, ``note``, ``cell``, ``end``)
and the same figures as fields (strict JSON: no NaN).

Every reporter is a progress callback with ``takes_details`` (:mod:`fsar_bench.progress`) and
has ``cell(summary)`` (a finished run's result) and ``final(text)`` (the command's last output).
"""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fsar_bench.results.summary import RunSummary


def duration(seconds: float) -> str:
    """``3725`` -> ``"1h02m05s"``; ``86`` -> ``"1m26s"``; ``4.2`` -> ``"4s"``."""
    s = int(round(seconds))
    h, m, s = s // 3600, s // 60 % 60, s % 60
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s" if m else f"{s}s"


def cell_result(summary: RunSummary) -> dict[str, Any]:
    """The figures of one finished cell (a line of the log)."""
    st, acc = summary.setting, summary.accuracy
    return {
        "method": summary.method,
        "way": st.way,
        "shot": st.shot,
        "episodes": st.episodes,
        "accuracy": round(acc["mean"], 2),
        "ci95": round(acc["ci95"], 2),
        "best_val": summary.best_val,
        "stop": summary.stop_reason,
        "train_s": summary.train_seconds,
        "eval_s": summary.eval_seconds,
        "dir": summary.dir,
    }


def cell_text(r: dict[str, Any]) -> str:
    """A cell's result in words."""
    stop = f", stopped: {r['stop']}" if r["stop"] else ""
    return (
        f"result {r['method']} {r['way']}-way {r['shot']}-shot: {r['accuracy']:.2f} +- "
        f"{r['ci95']:.2f} % over {r['episodes']} episodes (train {duration(r['train_s'])}, "
        f"test {duration(r['eval_s'])}{stop}) {r['dir']}"
    )


@dataclass
class _Phase:
    start: float
    first: int
    done: int = 0
    total: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    finished: bool = False

    def figures(self, now: float, unit: str) -> dict[str, Any]:
        """done/total, rate and time left (from the rate since the phase started)."""
        rate = (self.done - self.first) / max(now - self.start, 1e-9)
        left = (self.total - self.done) / rate if rate > 0 and self.total else None
        out = {"done": self.done, "total": self.total, "unit": unit}
        out |= {"rate": round(rate, 2), "eta_s": None if left is None else round(left, 1)}
        return out | {"elapsed_s": round(now - self.start, 1)}


class Lines:
    """Plain progress lines for a log (see the module docstring)."""

    takes_details = True

    def __init__(
        self, description: str, unit: str, stream: IO[str], fmt: str, every: float
    ) -> None:
        self.description, self.unit, self.stream = description, unit, stream
        self.fmt, self.every = fmt, every
        self.phases: dict[str, _Phase] = {}
        self.current: str | None = None
        self.last = time.monotonic()
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.beat = threading.Thread(target=self._heartbeat, daemon=True)

    def __call__(self, stage: str, done: int, total: int, **details: Any) -> None:
        with self.lock:
            now = time.monotonic()
            if "note" in details:
                self._write("note", {"phase": stage, "text": details["note"]})
                return
            phase = self.phases.get(stage)
            if phase is None:
                phase = self.phases[stage] = _Phase(start=now, first=done)
            phase.done, phase.total = done, total
            phase.details.update(details)
            if stage != self.current:
                self.current = stage
                self._progress("phase", stage, phase, now)
            elif total and done >= total and not phase.finished:
                phase.finished = True
                self._progress("done", stage, phase, now)
            elif now - self.last >= self.every:
                self._progress("progress", stage, phase, now)

    def cell(self, summary: RunSummary) -> None:
        with self.lock:
            result = cell_result(summary)
            self._write("cell", result, cell_text(result))

    def final(self, text: str) -> None:
        """The command's last output: as it is (text), or an ``end`` event (JSON)."""
        with self.lock:
            if self.fmt == "json":
                self._write("end", {"text": text})
            else:
                self.stream.write(text + "\n")
                self.stream.flush()

    def _heartbeat(self) -> None:
        while not self.stopped.wait(min(self.every, 5.0)):
            with self.lock:
                now, phase = time.monotonic(), self.phases.get(self.current or "")
                if phase and not phase.finished and now - self.last >= self.every:
                    self._progress("progress", self.current, phase, now)

    def _progress(self, event: str, stage: str, phase: _Phase, now: float) -> None:
        details = {k: v for k, v in phase.details.items() if k != "unit"}
        figures = phase.figures(now, phase.details.get("unit", self.unit))
        self._write(event, {"phase": stage, **figures, **details})

    def _write(self, event: str, data: dict[str, Any], text: str | None = None) -> None:
        self.last = time.monotonic()
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        if self.fmt == "json":
            clean = {k: _finite(v) for k, v in data.items()}
            head = {"time": stamp, "command": self.description, "event": event}
            line = json.dumps(head | clean, allow_nan=False)
        else:
            body = (text or _words(event, data)).split("\n")  # a table: every line stamped
            line = "\n".join(f"[{stamp}] {self.description} | {part}" for part in body)
        self.stream.write(line + "\n")
        self.stream.flush()


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _words(event: str, d: dict[str, Any]) -> str:
    """A progress event in words."""
    if event == "note":
        return f"{d['phase']}: {d['text']}"
    unit = d.get("unit") or ""
    parts = [f"{'start ' if event == 'phase' else ''}{d['phase']}"]
    if d.get("total"):
        parts.append(f"{d['done']}/{d['total']} ({100 * d['done'] / d['total']:.0f}%)")
    if event == "done":
        parts.append(f"done in {duration(d['elapsed_s'])}")
    elif event == "progress":
        parts.append(f"{d['rate']:.3g} {unit}/s".replace(" /s", "/s"))
        if d["eta_s"] is not None:
            parts.append(f"left {duration(d['eta_s'])}")
    return " | ".join(parts + details_text(d))


def details_text(d: dict[str, Any]) -> list[str]:
    """A training's latest validation accuracy, learning rate and loss, where known."""
    out = []
    for key, fmt in (("val", "val {:.2f}%"), ("lr", "lr {:.3g}"), ("loss", "loss {:.4g}")):
        if isinstance(d.get(key), (int, float)) and math.isfinite(d[key]):
            out.append(fmt.format(d[key]))
    return out
