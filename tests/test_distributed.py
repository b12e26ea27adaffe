"""``torchrun --standalone --nproc-per-node 2`` on CPU (gloo): the results are the same bytes as
one process's."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import make_dataset

EXTRACT = """
import sys
from pathlib import Path
from fsar_bench.data.source import DataSource
from fsar_bench.features.settings import ExtractConfig
from fsar_bench.runtime import init_runtime

root, cache = Path(sys.argv[1]), Path(sys.argv[2])
runtime = init_runtime("cpu")
source = DataSource.resolve("synthetic-mid", data_root=root, cache_dir=cache)
config = ExtractConfig(frames=3, size=64, views=2, shard_videos=2)
stores = source.features(config, runtime=runtime, workers=0)
print("rank", runtime.rank, "of", runtime.world, sorted(s.folder.name for s in stores.values()))
"""


def torchrun(script: Path, *args, nproc: int = 2) -> str:
    """Run ``script`` under ``torchrun --standalone`` with ``nproc`` CPU processes."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc-per-node={nproc}", str(script), *map(str, args)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_two_process_extraction_is_byte_identical_and_resumes(tmp_path):
    root = make_dataset(tmp_path / "data", per_split=6)
    script = tmp_path / "extract.py"
    script.write_text(textwrap.dedent(EXTRACT))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # torchrun's default per process
    one = subprocess.run([sys.executable, str(script), root, tmp_path / "one"],
                         capture_output=True, text=True, env=env)  # fmt: skip
    assert one.returncode == 0, one.stderr[-3000:]
    out = torchrun(script, root, tmp_path / "two")
    assert "rank 0 of 2" in out and "rank 1 of 2" in out
    single, double = tmp_path / "one" / "features", tmp_path / "two" / "features"
    assert files(single) == files(double)
    # resume: a lost shard is recomputed (by whichever rank owns it) to the same bytes
    (shard,) = list(double.rglob("shard-00001.safetensors"))[:1]
    for meta in double.rglob("meta.json"):
        if meta.parent == shard.parent:
            meta.unlink()
    shard.unlink()
    torchrun(script, root, tmp_path / "two")
    assert files(single) == files(double)
