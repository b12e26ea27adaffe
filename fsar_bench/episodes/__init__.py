"""Episodes: the evaluation protocols and the seeded episode manifests every method shares.

* :mod:`~fsar_bench.episodes.protocols`: the papers' protocols as named entries (``ls protocols``).
* :mod:`~fsar_bench.episodes.draw`: the one episode-drawing algorithm (manifests and training).
* :mod:`~fsar_bench.episodes.manifest`: manifests written once, hashed, read by every method.
"""
