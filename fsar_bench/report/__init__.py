"""Reports from stored results only (never re-runs a model).

* :mod:`~fsar_bench.report.console`: the accuracy and paired tables ``fsar-bench run`` prints.
* :mod:`~fsar_bench.report.tables`: the report's tables (rendered by
  :mod:`fsar_bench.presentation.tables`); :mod:`~fsar_bench.report.misalignment`: the
  misalignment and profile tables from the analyses' files; :mod:`~fsar_bench.report.figures`:
  figures; :mod:`~fsar_bench.report.build`: ``fsar-bench report`` as a library function.
"""
