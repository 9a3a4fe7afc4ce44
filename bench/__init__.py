"""Benchmarks (`make bench`): each measures ours against a baseline in the same run."""
