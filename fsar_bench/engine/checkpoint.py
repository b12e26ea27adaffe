"""Resume checkpoints without pickle: tensors in a safetensors file, everything else as JSON.

A checkpoint is one safetensors file (written atomically and durably by
:func:`fsar_bench.files.atomic_path`, so it is never torn): model and optimiser tensors, the torch
random state and the states of the model's own ``torch.Generator`` objects are tensors; the step,
the numpy generator state, the history and the optimiser's hyperparameters are one JSON document in
the file's metadata (key ``fsar``).

Loading reads the safetensors header and data only: no code can run. A safetensors file cut
short (an earlier version's torn write, a damaged disk) counts as absent, so the training is
redone; anything else at the path (a pickle such as the ``last.pt`` files of earlier versions)
is refused with a one-line :class:`~fsar_bench.errors.FsarError`; :func:`refuse_legacy` refuses a
``last.pt`` left in a checkpoint folder the same way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from fsar_bench.errors import FsarError
from fsar_bench.files import atomic_path, dumps

META_KEY = "fsar"


def save_checkpoint(path: Path, tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
    """Write ``tensors`` and the JSON-serialisable ``state`` (strict JSON) to ``path``
    atomically and durably (:func:`fsar_bench.files.atomic_path`)."""
    data = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    meta = {META_KEY: dumps(state, sort_keys=True)}
    with atomic_path(path) as tmp:
        save_file(data, str(tmp), metadata=meta)


def save_weights(path: Path, module: nn.Module) -> None:
    """A module's state dict as a plain safetensors file, atomically (``best.safetensors``)."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp))


def load_weights(path: Path, module: nn.Module) -> nn.Module:
    """Load :func:`save_weights`' file into ``module``, or a one-line error."""
    try:
        module.load_state_dict(load_file(str(path)))
    except (OSError, SafetensorError, RuntimeError) as err:
        first = (str(err).strip().splitlines() or [""])[0] or type(err).__name__
        raise FsarError(
            f"cannot load the weights {path}: {first}; delete its folder to train again"
        ) from None
    return module


def readable(path: Path) -> bool:
    """Whether ``path`` is a complete safetensors file (every tensor's bytes present)."""
    try:
        load_file(str(path))
    except (OSError, SafetensorError, ValueError):
        return False
    return True


def _torn(path: Path) -> bool:
    """A safetensors file cut short or emptied (not a pickle or another format): redone."""
    with open(path, "rb") as fh:
        head = fh.read(9)
    return len(head) < 9 or head[8:9] == b"{"


def load_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """``(tensors, state)`` of a checkpoint, ``None`` if there is none or it is torn (a file
    cut short: redone, never trusted); never unpickles."""
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as f:
            state = json.loads((f.metadata() or {})[META_KEY])
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, KeyError, ValueError, OSError) as err:
        if _torn(path):
            return None
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise FsarError(
            f"refusing checkpoint {path}: not a safetensors checkpoint of this suite ({reason}); "
            "pickled checkpoints are never loaded, delete the file to start over"
        ) from None
    return tensors, state


def training_parts(
    method: nn.Module, opt: torch.optim.Optimizer, meta: dict, ranks: list[tuple[dict, dict]]
) -> tuple[dict[str, torch.Tensor], dict]:
    """Tensors and JSON of a trainer's ``last.safetensors``: model, optimiser, and each rank's
    ``(generator state, random tensors)`` (one process: ``random/*`` and ``rng``; several:
    ``random/<rank>/*``, a list, and ``world``)."""
    opt_tensors, opt_meta = optimizer_parts(opt)
    tensors = {**prefixed("model/", method.state_dict()), **prefixed("optimizer/", opt_tensors)}
    meta = {**meta, "optimizer": opt_meta}
    if len(ranks) == 1:
        tensors |= prefixed("random/", ranks[0][1])
        return tensors, meta | {"rng": ranks[0][0]}
    for r, (_, random) in enumerate(ranks):
        tensors |= prefixed(f"random/{r}/", random)
    return tensors, meta | {"rng": [rng for rng, _ in ranks], "world": len(ranks)}


def restore_training(
    method: nn.Module, opt: torch.optim.Optimizer, tensors: dict, meta: dict, rank: int
) -> dict:
    """Inverse of :func:`training_parts` for ``rank``; returns its generator state."""
    method.load_state_dict(unprefixed("model/", tensors))
    load_optimizer(opt, unprefixed("optimizer/", tensors), meta["optimizer"])
    one = meta.get("world", 1) == 1
    set_random_state(method, unprefixed("random/" if one else f"random/{rank}/", tensors))
    return meta["rng"] if one else meta["rng"][rank]


def refuse_legacy(path: Path) -> None:
    """Refuse a pickled checkpoint of an earlier version (``last.pt``) instead of loading it."""
    if path.exists():
        raise FsarError(
            f"refusing {path}: pickled checkpoints can run code and are never loaded; delete it "
            "to train from scratch"
        )


def prefixed(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {f"{prefix}{k}": v for k, v in tensors.items()}


def unprefixed(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def optimizer_parts(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """An optimiser's state dict split into tensors (``"<param>/<name>"``) and JSON."""
    sd = opt.state_dict()
    tensors, other = {}, {}
    for idx, per_param in sd["state"].items():
        for name, value in per_param.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{idx}/{name}"] = value
            else:
                other.setdefault(str(idx), {})[name] = value
    return tensors, {"param_groups": sd["param_groups"], "other": other}


def load_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict):
    """Inverse of :func:`optimizer_parts`."""
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        idx, name = key.split("/", 1)
        state.setdefault(int(idx), {})[name] = value
    for idx, values in meta["other"].items():
        state.setdefault(int(idx), {}).update(values)
    groups = [
        {**g, "betas": tuple(g["betas"])} if "betas" in g else g for g in meta["param_groups"]
    ]
    opt.load_state_dict({"state": state, "param_groups": groups})
    _match_strides(opt)


def _match_strides(opt: torch.optim.Optimizer) -> None:
    """Give every per-parameter state tensor its parameter's memory layout. Saved tensors come
    back contiguous, and fused kernels pair a channels-last parameter's elements with a
    contiguous state's by memory position (wrong moments after a resume, measured on Adam)."""
    for group in opt.param_groups:
        for prm in group["params"]:
            state = opt.state.get(prm, {})
            for name, value in state.items():
                if torch.is_tensor(value) and value.shape == prm.shape:
                    if value.stride() != prm.stride():
                        state[name] = torch.empty_like(prm, dtype=value.dtype).copy_(value)


def generators(module: nn.Module) -> dict[str, torch.Generator]:
    """The ``torch.Generator`` attributes of a module and its submodules (e.g. TRN++'s)."""
    return {
        f"{name}.{attr}" if name else attr: value
        for name, mod in module.named_modules()
        for attr, value in vars(mod).items()
        if isinstance(value, torch.Generator)
    }


def random_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """The torch random state and that of every generator the module owns (uint8 tensors)."""
    out = {"torch": torch.get_rng_state()}
    out |= {f"gen.{k}": g.get_state() for k, g in generators(module).items()}
    return out


def set_random_state(module: nn.Module, states: dict[str, torch.Tensor]) -> None:
    """Inverse of :func:`random_state`."""
    torch.set_rng_state(states["torch"])
    for key, gen in generators(module).items():
        gen.set_state(states[f"gen.{key}"])
