"""GPU acceptance check: the suite's CUDA paths, end to end, in a few minutes on one GPU.

``benchmarks/gpu_check.sh`` (or ``python benchmarks/gpu_check.py --device cuda``) runs, on a
small synthetic dataset generated in ``--workdir`` (``--videos-per-class``, 128 px):

1. ``extract``: every split with EfficientNet-Lite0 at 112 px on the device (the suite's CUDA
   path: bf16 autocast, channels-last), frames/s and peak GPU memory; the test split also on the
   CPU (float32), compared: per video cosine >= ``COSINE`` and relative error <= ``REL_ERR``;
   ResNet-50 (random weights: no download) at 224 px on the test split for its throughput.
2. ``train``: ProtoNet, OTAM, TRN++ and TA2N, 1-shot, ``--train-episodes`` each, evaluated on
   ``--episodes`` test episodes, on the device (``run_benchmark``).
3. ``records``: each trained checkpoint evaluated again on the CPU on the same features and
   manifest: per-episode predictions agree on >= ``AGREE`` of the episodes and the accuracies
   differ by <= ``ACC_POINTS`` (float rounding: cuDNN's TF32 convolutions, summation order).
4. ``finetune``: one ``--finetune`` optimiser step (4 episodes) of ProtoNet on EfficientNet-Lite0
   at 112 px, with and without activation checkpointing: step time and peak memory of each
   (on CUDA the checkpointed step must use less memory).
5. ``torchrun``: ``torchrun --standalone --nproc-per-node N -m fsar_bench run`` (N: the visible
   GPUs, NCCL; on the CPU 2 processes with gloo) of ProtoNet and OTAM on the same features. N = 1:
   the same checkpoints evaluated again, predictions equal on >= 99.9 % of the episodes; the
   suite forms no process group for one process, so a one-rank NCCL all-gather and broadcast
   are checked directly as well. N > 1: DDP trains anew, so the accuracies must agree within
   three intervals.

Prints one line per check (PASS/FAIL and the figures) and a JSON summary (``--json``); exits 1
if a check failed. ``--device cpu`` runs the same script on the CPU with a smaller dataset (the
CPU-side check of this script; no bf16 there). Written without a GPU at hand: see
``docs/scale.md`` for whether it has been run on CUDA.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

COSINE, REL_ERR = 0.99, 0.05  # bf16 autocast against float32 extraction, per video
AGREE, ACC_POINTS = 0.99, 0.5  # predictions of the same checkpoint, device against CPU


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda", help="cuda | cpu (the script's CPU-side check)")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/fsar-gpu-check"))
    p.add_argument("--videos-per-class", type=int, default=None, help="cuda 6, cpu 3")
    p.add_argument("--train-episodes", type=int, default=None, help="cuda 400, cpu 16")
    p.add_argument("--episodes", type=int, default=None, help="test episodes: cuda 2000, cpu 50")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    cuda = args.device.startswith("cuda")
    for name, gpu, cpu in (("videos_per_class", 6, 3), ("train_episodes", 400, 16)):
        if getattr(args, name) is None:
            setattr(args, name, gpu if cuda else cpu)
    if args.episodes is None:
        args.episodes = 2000 if cuda else 50
    return args


class Checks:
    """Check lines as they are made, and the summary."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def add(self, name: str, ok: bool, **figures) -> None:
        self.rows.append({"check": name, "ok": bool(ok), **figures})
        text = ", ".join(f"{k} {_fmt(v)}" for k, v in figures.items())
        print(f"{'PASS' if ok else 'FAIL'} {name}: {text}", flush=True)

    @property
    def ok(self) -> bool:
        return all(r["ok"] for r in self.rows)


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from gpu_steps import (
        check_finetune,
        check_nccl,
        check_records,
        check_torchrun,
        environment,
        extract_all,
        make_data,
        train_all,
    )

    checks = Checks()
    env = environment(args.device)
    print(json.dumps(env), flush=True)
    if env.get("error"):
        print(f"FAIL environment: {env['error']}")
        return 2
    start = time.perf_counter()
    work = args.workdir.resolve()
    source = make_data(work, args.videos_per_class, checks)
    extract_all(source, args.device, work, checks)
    summaries = train_all(source, args, work, checks)
    check_records(source, summaries, args.device, checks)
    check_finetune(source, args.device, checks)
    check_torchrun(source, args, work, summaries, checks)
    if args.device.startswith("cuda"):
        check_nccl(checks)
    total = time.perf_counter() - start
    checks.add("total", total < 480, seconds=round(total, 1), limit_s=480)
    if args.json:
        args.json.write_text(json.dumps({"environment": env, "checks": checks.rows}, indent=1))
    return 0 if checks.ok else 1


if __name__ == "__main__":
    sys.exit(main())
