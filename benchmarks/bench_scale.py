"""Scale harness: a protocol's real dataset size, simulated at a fraction, through the commands.

``python benchmarks/bench_scale.py --dataset ssv2_full --fraction F --workdir DIR --json OUT``

1. Builds a stand-in of the protocol (``benchmarks/scale_data.py``): its real split lists with
   every class and ``F`` of each class's videos (at least ``--min-per-class``), as frame folders
   of small JPEG frames (crops of the photographs in ``skimage.data``), in the TRX/TA2N layout.
2. Runs the real ``fsar-bench`` commands on it, stage by stage, each command in its own process
   (``python -m fsar_bench``), timed, with its own peak memory (``benchmarks/scale_stage.py``):

   * ``prepare``: index the data root (``fsar-bench prepare``);
   * ``manifests``: the 10,000-episode 1-shot test manifest (``--protocol otam``) and the
     validation manifest (2,000 episodes, seed 1) (``fsar-bench episodes``);
   * ``estimate``: ``fsar-bench extract --dry-run`` (the cache size, before extracting);
   * ``extract``: ``fsar-bench extract`` (decoding workers, batches, the shard writer) with a
     backbone a CPU affords: EfficientNet-Lite0 at ``--size`` (default 64 px: 2 x 2 maps);
   * ``train``: ``fsar-bench run`` of a pooled method (ProtoNet) and a spatial one (TA2N),
     1-shot, ``--train-episodes`` each (validation twice, on ``--val-episodes``) through the
     ``FeatureBank``, with a 100-episode test;
   * ``evaluate``: the same run with ``--protocol otam`` (10,000 test episodes); the trainings
     are finished, so this is their evaluation;
   * ``report``: ``fsar-bench report``.

3. Writes ``--json``: ``{"videos": N, "stages": {stage: {"seconds", "peak_rss_mb", ...}}, ...}``
   with the machine, its load average before and after, the commit and the date; the commands'
   output goes to ``<workdir>/bench.log``. Caches and results are made afresh every time; the
   stand-in data is reused when its recipe is unchanged.

Datasets: ``ssv2_full``, ``ssv2_small``, ``kinetics_100``, ``ucf101``, ``hmdb51`` (the shipped
lists; ``../shared/splits`` holds the same files). Figures: ``docs/scale.md``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from scale_stage import run_stage  # noqa: E402

DATASETS = {
    "ssv2_full": "ssv2-full",
    "ssv2_small": "ssv2-small",
    "kinetics_100": "kinetics-100",
    "ucf101": "ucf101",
    "hmdb51": "hmdb51",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", choices=sorted(DATASETS), default="ssv2_full")
    p.add_argument("--fraction", type=float, required=True)
    p.add_argument("--workdir", type=Path, required=True)
    p.add_argument("--json", type=Path, required=True)
    p.add_argument("--min-per-class", type=int, default=6, help="5-shot 1-query episodes")
    p.add_argument("--frames", default="30,60", help="frames per video, range (SSv2: 2-6 s)")
    p.add_argument("--frame-size", default="160,120", help="JPEG width,height")
    p.add_argument("--size", type=int, default=64, help="backbone input side (px)")
    p.add_argument("--workers", type=int, default=1, help="decoding processes")
    p.add_argument("--train-episodes", type=int, default=256)
    p.add_argument("--val-episodes", type=int, default=200)
    p.add_argument("--stages", default="prepare,manifests,estimate,extract,train,evaluate,report")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per command")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--label", default="", help="recorded as is (e.g. which code ran)")
    p.add_argument(
        "--reuse-features",
        action="store_true",
        help="keep the index and feature stores of the last run (for the stages after extract)",
    )
    p.add_argument("--env", action="append", default=[], help="KEY=VALUE for the commands")
    p.add_argument("--child", choices=("build", "machine"), help=argparse.SUPPRESS)
    return p.parse_args(argv)


def commands(args: argparse.Namespace, work: Path) -> dict[str, list[list[str]]]:
    """Stage -> the ``fsar-bench`` command lines it runs."""
    base = [sys.executable, "-m", "fsar_bench"]
    data = ["--dataset", str(work / "lists"), "--data-root", str(work / "data")]
    data += ["--cache-dir", str(work / "cache")]
    feats = ["--backbone", "efficientnet-lite0", "--size", str(args.size)]
    episodes = [*base, "episodes", *data, "--shot", "1"]
    man = work / "manifests"
    half = max(1, args.train_episodes // 2)
    run = [*base, "run", *data, *feats, "--methods", "protonet,ta2n", "--shots", "1"]
    run += ["--runs-dir", str(work / "runs"), "--device", "cpu", "--workers", str(args.workers)]
    for key, value in (("episodes", args.train_episodes), ("val_every", half)):
        run += ["--set", f"train.{key}={value}"]
    run += ["--set", f"train.val_episodes={args.val_episodes}"]
    extract = [*base, "extract", *data, *feats, "--workers", str(args.workers)]
    return {
        "prepare": [[*base, "prepare", *data]],
        "manifests": [
            [*episodes, "--split", "test", "--protocol", "otam", "--out", str(man / "test.json")],
            [*episodes, "--split", "val", "--episodes", "2000", "--seed", "1"]
            + ["--out", str(man / "val.json")],
        ],
        "estimate": [[*extract, "--dry-run"]],
        "extract": [extract],
        "train": [[*run, "--episodes", "100"]],
        "evaluate": [[*run, "--protocol", "otam"]],
        "report": [[*base, "report", "--runs", str(work / "runs"), "--out", str(work / "report")]],
    }


def machine() -> dict:
    """CPU, cores, memory and the software versions of this run (run in a child process)."""
    import torch

    import fsar_bench

    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)),
        "memory_gib": round(mem, 1),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "package": str(Path(fsar_bench.__file__).parent),
    }


def commit() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(HERE), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def du(folder: Path) -> int:
    """Bytes of the files under ``folder``."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def build(args: argparse.Namespace, work: Path) -> dict:
    """The stand-in lists and frames (see ``scale_data``)."""
    from scale_data import cut_lists, write_dataset

    from fsar_bench.data.datasets import DATASETS as REGISTRY
    from fsar_bench.data.datasets import SPLITS

    info = REGISTRY.get(DATASETS[args.dataset])
    lists = {s: info.split_path(s) for s in SPLITS}
    lines = cut_lists(lists, args.fraction, args.min_per_class, args.seed)
    lo, hi = (int(v) for v in args.frames.split(","))
    width, height = (int(v) for v in args.frame_size.split(","))
    made = write_dataset(
        work, lines, frames_range=(lo, hi), width=width, height=height, seed=args.seed
    )
    return {"protocol": info.name, "lists": {s: str(p) for s, p in lists.items()}, **made}


def in_child(what: str, argv: list[str]) -> dict:
    """``build`` or ``machine`` in a fresh interpreter: this process never imports numpy or
    torch, because a child's ``ru_maxrss`` starts at the RSS of the process it was forked from."""
    out = subprocess.run(
        [sys.executable, __file__, *argv, "--child", what], capture_output=True, text=True
    )
    if out.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{out.stderr}")
    return json.loads(out.stdout)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    work = args.workdir.resolve()
    if args.child:
        print(json.dumps(build(args, work) if args.child == "build" else machine()))
        return
    work.mkdir(parents=True, exist_ok=True)
    data = in_child("build", argv)
    fresh = ["cache/checkpoints"] if args.reuse_features else ["cache"]
    for old in (*fresh, "runs", "manifests", "report"):
        shutil.rmtree(work / old, ignore_errors=True)
    log = work / "bench.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **dict(e.split("=", 1) for e in args.env)}
    out = {
        "dataset": args.dataset,
        "label": args.label,
        "fraction": args.fraction,
        "videos": sum(data["videos"].values()),
        "data": data,
        "settings": {k: str(v) for k, v in vars(args).items() if k not in ("child", "env")},
        "env": args.env,
        "backbone": f"efficientnet-lite0 at {args.size} px (ImageNet weights), float16 maps",
        "machine": in_child("machine", argv),
        "commit": commit(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "stages": {},
    }
    todo = commands(args, work)
    for stage in args.stages.split(","):
        t0 = time.strftime("%H:%M:%S")
        out["stages"][stage] = run_stage(todo[stage], log, env, args.timeout)
        out["stages"][stage]["load_average"] = round(os.getloadavg()[0], 2)
        s = out["stages"][stage]
        print(f"{t0} {stage}: {s['seconds']:.1f} s, peak RSS {s['peak_rss_mb']:.0f} MB", flush=True)
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    out["cache_bytes"] = {
        d.name: du(d) for d in sorted((work / "cache" / "features").glob("*/*")) if d.is_dir()
    }
    out["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
