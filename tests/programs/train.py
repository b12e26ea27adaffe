"""Train the toy TRN++ (``mode``: ``full``; ``stop`` between two checkpoints; ``resume``) and
write its learning curve.

Usage: ``train.py OUT MODE``. Run by ``tests/engine/test_distributed.py`` under ``torchrun``.
"""

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: conftest, programs
from fsar_bench.runtime import init_runtime
from programs.toy import toy_trainer

out, mode = Path(sys.argv[1]), sys.argv[2]
runtime = init_runtime("cpu")
trainer = toy_trainer(out, runtime)


class Stop(Exception):
    pass


def stop(step, total, loss, val):
    if mode == "stop" and step >= 6:  # between the checkpoints at 4 and 8
        raise Stop


try:
    trainer.fit(progress=stop)
except Stop:
    sys.stdout.write(f"rank {runtime.rank} stopped at {trainer.state.step}\n")  # one write
if runtime.is_main:
    (out / "history.json").write_text(json.dumps(trainer.history))
runtime.barrier()  # every rank done with the group (rank 0 wrote the history) before it goes
runtime.close()  # leave the process group before the interpreter's teardown
if mode == "stop":
    # An interrupted training ends without the interpreter's teardown (kill -9). After the
    # exception out of ``fit`` that teardown now and then aborted under torchrun ("terminate
    # called without an active exception"); the full and resume modes keep it.
    sys.stdout.flush()
    os._exit(0)
