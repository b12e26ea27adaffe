"""Results: the on-disk contract between the engine and the reports.

* :mod:`~fsar_bench.results.store`: one folder per run (config, per-episode records, summary).
* :mod:`~fsar_bench.results.summary`: the typed :class:`RunSummary` written by the engine.
* :mod:`~fsar_bench.results.stats`: intervals and paired statistics.
* :mod:`~fsar_bench.results.hierarchy`: intervals over several trainings x episodes (x test
  classes) of a cell, paired differences and the probability of improvement (docs/statistics.md).
"""
