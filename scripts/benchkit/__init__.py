"""Pieces of scripts/bench.py: machine facts, timing, the 24 h corpus and each section.

Kept out of the `monitor` package on purpose: the benchmark measures the product and
its peers, and the peers (the `bench` extra) must never become runtime imports.
"""
