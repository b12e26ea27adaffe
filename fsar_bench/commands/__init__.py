"""CLI commands kept in their own modules; ``fsar_bench.cli`` registers them."""
