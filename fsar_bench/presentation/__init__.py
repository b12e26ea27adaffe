"""Presentation shared by the report and the analyses: how numbers become text and figures.

* :mod:`~fsar_bench.presentation.text`: plain-text tables (``ls``, ``prepare``, the analyses'
  and the run's printed tables; imports no numpy).
* :mod:`~fsar_bench.presentation.tables`: :class:`~fsar_bench.presentation.tables.Table` and its
  Markdown, LaTeX and CSV renderings.
* :mod:`~fsar_bench.presentation.figures`: the paper style of every figure and one way to save
  them.

It knows no result types: the report (:mod:`fsar_bench.report`) and the analyses
(:mod:`fsar_bench.analysis`) both build on it, and it imports neither.
"""
