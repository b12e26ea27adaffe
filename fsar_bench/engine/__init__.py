"""The engine: what ``fsar-bench run`` does with a data source, its features and the methods.

* :mod:`~fsar_bench.engine.presets`: run presets (``quick``, ``paper``) and resolved configs.
* :mod:`~fsar_bench.engine.overrides`: typed ``--set SECTION.FIELD=VALUE`` overrides.
* :mod:`~fsar_bench.engine.evaluate`: the one evaluation loop (validation, test, analyses).
* :mod:`~fsar_bench.engine.train`: episodic training with validation-split selection and resume.
* :mod:`~fsar_bench.engine.run`: the whole run: manifests, training, evaluation, summaries.
"""
