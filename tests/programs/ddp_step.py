"""One DDP training step of OTAM on the toy data; each rank saves its gradients, weights and the
episodes it drew.

Usage: ``ddp_step.py OUT``. Run by ``tests/engine/test_distributed.py`` under ``torchrun``.
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: conftest, programs
import torch
from safetensors.torch import save_file

from fsar_bench.engine.train import TrainConfig, Trainer
from fsar_bench.methods import create_method
from fsar_bench.runtime import init_runtime
from programs.toy import D, toy_train_data

out = Path(sys.argv[1])
runtime = init_runtime("cpu")
torch.manual_seed(0)
method = create_method("otam", D)
cfg = TrainConfig(optimizer="sgd", momentum=0.0, lr=0.5, batch=2, query=2, seed=3)
trainer = Trainer(method, cfg, toy_train_data(), out_dir=out / "ckpt", runtime=runtime)
ids, views = trainer.draw_batch(2)
loss = trainer.backward(ids, views)
grads = {"grad/" + n: p.grad.clone() for n, p in method.named_parameters()}
trainer.opt.step()
params = {"param/" + n: p.detach().clone() for n, p in method.named_parameters()}
save_file(grads | params, str(out / f"rank{runtime.rank}.safetensors"))
(out / f"rank{runtime.rank}.json").write_text(json.dumps({"ids": ids, "views": views}))
