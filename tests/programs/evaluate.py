"""Evaluate TA2N on the toy manifest with records and extras; prints each rank's records digest.

Usage: ``evaluate.py OUT [EXTRAS_FILE]``. Run by ``tests/engine/test_distributed.py`` under
``torchrun`` and in one process.
"""

import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: conftest, programs
import torch
from safetensors.torch import save_file

from fsar_bench.engine.evaluate import evaluate
from fsar_bench.methods import create_method
from fsar_bench.runtime import init_runtime
from programs.toy import D, toy_eval_data

out = Path(sys.argv[1])
runtime = init_runtime("cpu")
if runtime.is_main:
    out.mkdir(parents=True, exist_ok=True)  # the records file is opened in an existing folder
manifest, load = toy_eval_data(spatial=True)
torch.manual_seed(0)
method = create_method("ta2n", D, reduce_channels=4)
# blocks of 20 episodes, chunks of 4: 5 + 5 + 2 chunks, so the ranks' last rounds are uneven;
# embedding batches of 7 videos, dealt out to the ranks too
result = evaluate(
    method,
    manifest,
    load,
    device=runtime.device,
    records=out / "episodes.jsonl",
    keep_extras=True,
    chunk=4,
    block=20,
    embed_batch=7,
    runtime=runtime,
)
n, digest = len(result.records), hashlib.sha256(json.dumps(result.records).encode()).hexdigest()
sys.stdout.write(f"rank {runtime.rank} of {runtime.world} {n} {digest}\n")  # one write
if runtime.is_main and len(sys.argv) > 2:
    save_file({k: v.contiguous() for k, v in result.extras.items()}, sys.argv[2])
