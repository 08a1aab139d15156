"""Benchmarks and evidence runs (not tests): ``python -m benchmarks.reliability``, ``benchmarks/store_load.py``, ..."""
