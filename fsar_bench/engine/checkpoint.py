"""Resume checkpoints without pickle: tensors in a safetensors file, everything else as JSON.

A checkpoint is one safetensors file (written to ``*.partial`` and renamed, so it is never
torn): model and optimiser tensors, the torch random state and the states of the model's own
``torch.Generator`` objects are tensors; the step, the numpy generator state, the history and the
optimiser's hyperparameters are one JSON document in the file's metadata (key ``fsar``).

Loading reads the safetensors header and data only: no code can run. Anything else at the path
(a pickle such as the ``last.pt`` files of earlier versions, or a truncated file) is refused
with a one-line :class:`~fsar_bench.errors.FsarError`; :func:`refuse_legacy` refuses a
``last.pt`` left in a checkpoint folder the same way.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from fsar_bench.errors import FsarError

META_KEY = "fsar"


def save_checkpoint(path: Path, tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
    """Write ``tensors`` and the JSON-serialisable ``state`` to ``path`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    data = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    save_file(data, str(tmp), metadata={META_KEY: json.dumps(state, sort_keys=True)})
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """``(tensors, state)`` of a checkpoint, ``None`` if there is none; never unpickles."""
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as f:
            state = json.loads((f.metadata() or {})[META_KEY])
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, KeyError, ValueError, OSError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise FsarError(
            f"refusing checkpoint {path}: not a safetensors checkpoint of this suite ({reason}); "
            "pickled checkpoints are never loaded, delete the file to start over"
        ) from None
    return tensors, state


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
