"""Rendering report tables: Markdown, LaTeX (booktabs) and CSV.

A :class:`Table` is plain data (title, header, rows, notes); the renderers never compute.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(kw_only=True)
class Table:
    """A rendered-to-be table: ``lead`` left columns (labels), then value columns."""

    name: str
    title: str
    header: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)
    lead: int = 1
    breaks: list[int] = field(default_factory=list)  # row indices starting a new block


def latex_escape(text: str) -> str:
    """Escape LaTeX specials; ``±``, ``✓``, ``<`` and ``>`` become math symbols (text-mode
    ``<``/``>`` print other glyphs in LaTeX's default font encoding), ``—`` an em dash."""
    specials = {
        "\\": r"\textbackslash{}",
        "&": r"\&",
        "%": r"\%",
        "$": r"\$",
        "#": r"\#",
        "_": r"\_",
        "{": r"\{",
        "}": r"\}",
        "~": r"\textasciitilde{}",
        "^": r"\textasciicircum{}",
        "±": r"$\pm$",
        "✓": r"$\checkmark$",
        ">": r"$>$",
        "<": r"$<$",
        "—": "---",
    }
    return "".join(specials.get(ch, ch) for ch in text)


def to_markdown(t: Table) -> str:
    """A GitHub-flavoured Markdown table with its title and notes."""

    def line(cells) -> str:
        return "| " + " | ".join(str(c).replace("|", r"\|") for c in cells) + " |"

    align = ["---"] * t.lead + ["--:"] * (len(t.header) - t.lead)
    body = [line(t.header), "| " + " | ".join(align) + " |", *map(line, t.rows)]
    return "\n".join([f"### {t.title}", "", *body, "", *[f"- {n}" for n in t.notes]]) + "\n"


def to_latex(t: Table) -> str:
    """A booktabs ``table`` (needs ``booktabs`` and ``amssymb``); notes under the tabular."""
    spec = "l" * t.lead + "r" * (len(t.header) - t.lead)
    out = [
        r"\begin{table}[t]",
        r"\centering\small",
        rf"\caption{{{latex_escape(t.title)}}}",
        rf"\label{{tab:{t.name}}}",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(map(latex_escape, t.header)) + r" \\",
        r"\midrule",
    ]
    for i, row in enumerate(t.rows):
        if i in t.breaks:
            out.append(r"\midrule")
        out.append(" & ".join(latex_escape(str(c)) for c in row) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}"]
    out += [
        r"\par\smallskip{\footnotesize\raggedright",
        *[latex_escape(n) + r"\par" for n in t.notes],
    ]
    return "\n".join([*out, "}", r"\end{table}"]) + "\n"


def to_csv(t: Table) -> str:
    """Header and rows as CSV after ``#`` lines with the title and notes (``comment="#"``)."""
    buf = io.StringIO()
    buf.write("".join(f"# {line}\n" for line in [t.title, *t.notes]))
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(t.header)
    writer.writerows([[str(c).replace("±", "+-") for c in row] for row in t.rows])
    return buf.getvalue()


RENDER = {"md": to_markdown, "tex": to_latex, "csv": to_csv}


def write_tables(tables: list[Table], folder: Path, formats: tuple[str, ...]) -> list[Path]:
    """``<folder>/<name>.<fmt>`` for every table and format."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for t in tables:
        for f in formats:
            path = folder / f"{t.name}.{f}"
            path.write_text(RENDER[f](t), encoding="utf-8")
            out.append(path)
    return out
