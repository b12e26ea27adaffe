"""Extract a dataset's features on every rank; prints the stores each rank found.

Usage: ``extract.py DATA_ROOT CACHE``. Run by ``tests/engine/test_distributed.py`` under
``torchrun``.
"""

import sys
from pathlib import Path

from fsar_bench.features.settings import ExtractConfig
from fsar_bench.runtime import init_runtime
from fsar_bench.source import DataSource

root, cache = Path(sys.argv[1]), Path(sys.argv[2])
runtime = init_runtime("cpu")
source = DataSource.resolve("synthetic-mid", data_root=root, cache_dir=cache)
config = ExtractConfig(frames=3, size=64, views=2, shard_videos=2)
stores = source.features(config, runtime=runtime, workers=0)
names = sorted(s.folder.name for s in stores.values())
sys.stdout.write(f"rank {runtime.rank} of {runtime.world} {names}\n")  # one write (shared pipe)
sys.stdout.flush()
