"""Benchmarks runnable as ``python -m aro_tui.bench.<name>``; kept out of the test suite."""
