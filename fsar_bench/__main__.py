"""``python -m fsar_bench`` (and ``torchrun -m fsar_bench``): the command line."""

import sys

from fsar_bench.cli import main

sys.exit(main())
