"""Benchmarks and reliability drills for logagg (``python -m bench``, ``make bench-quick``, ``make drills``).

Run from the repository root with ``service/`` on ``PYTHONPATH`` (the Makefile does this).
"""
