"""Reports from stored results only (never re-runs a model).

* :mod:`~fsar_bench.presentation.text`: plain-text tables (``ls``, ``prepare``; imports no numpy).
* :mod:`~fsar_bench.report.console`: the accuracy and paired tables ``fsar-bench run`` prints.
* :mod:`~fsar_bench.report.tables` / :mod:`~fsar_bench.presentation.tables`: report tables and their
  Markdown, LaTeX and CSV renderings; :mod:`~fsar_bench.report.figures`: figures;
  :mod:`~fsar_bench.report.build`: ``fsar-bench report`` as a library function.
"""
