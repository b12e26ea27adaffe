"""Misalignment analyses (installed as ``fsar_bench.analysis``).

* :mod:`~fsar_bench.analysis.probe`: the TSM probes that score every video frame by frame.
* :mod:`~fsar_bench.analysis.measures`: what is measured from a probe (AEM, start times, onset,
  references, order, alignment embeddings), the typed report ``aem.json`` and its files.
* :mod:`~fsar_bench.analysis.sweep`: dataset profiles and single-factor sweeps.

Analysis code reads what methods expose through ``extras``; it never imports method internals.
"""
