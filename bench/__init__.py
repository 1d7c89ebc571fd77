"""Benchmarks (not tests): `python -m bench.run_all` writes bench/results/*.json and summary.md."""
