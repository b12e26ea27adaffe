"""The range of a seed, shared by the command line's bounds and the engine's checks."""

SEED_MAX = 2**32 - 1  # numpy and torch accept every seed up to here
