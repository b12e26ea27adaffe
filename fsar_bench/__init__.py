"""fsar-bench: a benchmark and misalignment-analysis suite for few-shot action recognition.

Importing this package is cheap: it imports neither torch nor numpy, so that
``fsar-bench --help`` and ``fsar-bench ls`` start fast.
"""

__version__ = "0.1.0"
