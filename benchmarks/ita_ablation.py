"""Ablations of Cao et al. (CVIU 2021) for ``ita``: the shape of its Tables 2-3 and Fig. 7.

Studies (``--study``, comma-separated; all by default):

* ``hidden``: LSTM hidden units 512, 256, 64 (Table 2), trained with cross-entropy: Table 2's
  512-unit row (86.57 +- 0.21) is Table 3's cross-entropy row, so the paper's Table 2 used CE.
* ``loss``: circle loss vs cross-entropy at 512 units (Table 3).
* ``gamma``: gamma in 32, 64, 80, 128, 256, 512 with m = 0.4 (Fig. 7a).
* ``m``: m in -0.2, 0, 0.2, 0.4 with gamma = 128 (Fig. 7b).

Every variant is an ordinary stored run of :func:`fsar_bench.engine.run.run_benchmark` under
``--runs-dir`` (``<runs>/<dataset>/ita-5w<K>s-<config hash>``), so ``fsar-bench`` reports can
tabulate it; variants with the same resolved config are the same run (circle with gamma 128 and
m 0.4 appears in three studies and is trained once), finished runs are reused and interrupted
ones resume. All variants of a call share one test manifest. Each study prints mean +- 95%
interval and the paired difference to the cross-entropy run at 512 units (the paper's reference
line in Fig. 7).

The defaults are a CPU budget, NOT the paper's protocol: 64 px frames, 300 training episodes,
the ``quick`` protocol cut to 300 test episodes. The paper: 18,000 training episodes (SGD, lr
1e-5), 600 x 10 test episodes with 15 queries per class (``--protocol ita --episodes 0``).

Usage::

    python benchmarks/ita_ablation.py --data-root DATA --cache-dir CACHE --runs-dir runs \\
        [--study hidden,loss,gamma,m] [--dataset synthetic] [--protocol quick] [--episodes 300] \\
        [--train-episodes 300] [--size 64] [--shot 1]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from fsar_bench.presentation.text import table
from fsar_bench.results.stats import paired_difference

REFERENCE = {"loss": "ce"}  # cross-entropy, 512 hidden units: Fig. 7's dashed line
STUDIES: dict[str, list[dict[str, str]]] = {
    "hidden": [{"hidden": h, "loss": "ce"} for h in ("512", "256", "64")],
    "loss": [{"loss": "circle"}, {"loss": "ce"}],
    "gamma": [{"gamma": g, "m": "0.4"} for g in ("32", "64", "80", "128", "256", "512")],
    "m": [{"m": m, "gamma": "128"} for m in ("-0.2", "0", "0.2", "0.4")],
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--study", default=",".join(STUDIES), help="comma-separated: " + ", ".join(STUDIES)
    )
    p.add_argument("--dataset", default="synthetic")
    p.add_argument("--data-root", type=Path, default=None)
    p.add_argument("--cache-dir", type=Path, default=None)
    p.add_argument("--runs-dir", type=Path, default=Path("runs"))
    p.add_argument("--protocol", default="quick")
    p.add_argument("--episodes", type=int, default=300, help="test episodes; 0: the protocol's")
    p.add_argument("--train-episodes", type=int, default=300)
    p.add_argument("--val-every", type=int, default=100)
    p.add_argument("--val-episodes", type=int, default=100)
    p.add_argument("--shot", type=int, default=1)
    p.add_argument("--size", type=int, default=64, help="input side in pixels (0: backbone's)")
    p.add_argument("--preset", default="quick", help="training preset of fsar-bench run")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None)
    return p.parse_args(argv)


def run_variant(args: argparse.Namespace, ita: dict[str, str]):
    """Train and evaluate ``ita`` with the method overrides ``ita``; returns the run summary."""
    from fsar_bench.engine.run import RunRequest, run_benchmark
    from fsar_bench.runtime import pick_device
    from fsar_bench.source import DataSource

    source = DataSource.resolve(args.dataset, data_root=args.data_root, cache_dir=args.cache_dir)
    train = {
        "episodes": str(args.train_episodes),
        "val_every": str(args.val_every),
        "val_episodes": str(args.val_episodes),
    }
    req = RunRequest(
        methods=("ita",),
        shots=(args.shot,),
        protocol=args.protocol,
        episodes=args.episodes or None,
        seed=args.seed,
        size=args.size or None,
        preset=args.preset,
        sets={"ita": ita, "train": train},
        runs=args.runs_dir,
        device=str(pick_device(args.device)),
    )
    return run_benchmark(source, req)[0]


def study_table(name: str, summaries: list, reference) -> str:
    """One row per variant: accuracy, paired difference to the reference run, best val."""
    ref = reference.episode_accuracies()
    rows = []
    for s in summaries:
        cfg = s.method_config
        label = {"hidden": f"hidden={cfg['hidden']}", "loss": f"loss={cfg['loss']}"}.get(
            name, f"{name}={cfg[name]}"
        )
        diff = paired_difference(s.episode_accuracies(), ref).diff
        acc = s.accuracy
        rows.append(
            [
                label,
                f"{acc['mean']:.2f} +- {acc['ci95']:.2f}",
                f"{diff.mean:+.2f} +- {diff.ci95:.2f}",
            ]
            + [f"{s.best_val:.2f}", Path(s.dir).name]
        )
    head = ["variant", "test acc (95% CI)", "minus CE@512 (paired)", "best val", "run"]
    return f"{name}:\n" + table(head, rows)


def main(argv: list[str] | None = None) -> None:
    from fsar_bench.cpu import tune_cpu

    tune_cpu()  # the CLI's CPU settings; before torch is imported
    args = parse_args(argv)
    names = [s.strip() for s in args.study.split(",") if s.strip()]
    unknown = sorted(set(names) - set(STUDIES))
    if unknown:
        raise SystemExit(f"unknown study {unknown[0]!r}; choose from {', '.join(STUDIES)}")
    reference = run_variant(args, REFERENCE)
    for name in names:
        summaries = [run_variant(args, v) for v in STUDIES[name]]
        print(study_table(name, summaries, reference), end="\n\n")
    s = reference.setting
    print(
        f"{s.dataset}: {s.way}-way {s.shot}-shot, {s.episodes} test episodes x {s.query} "
        f"query/class (protocol {s.protocol}), {reference.train_config['episodes']} "
        f"training episodes, backbone {reference.backbone} @ {reference.size}px; "
        f"chance {100 / s.way:.0f}%; per-episode accuracy sd of the reference "
        f"{np.std(reference.episode_accuracies(), ddof=1):.1f}"
    )


if __name__ == "__main__":
    main()
