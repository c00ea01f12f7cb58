"""edubot's benchmarks: ``python bench/run.py [--quick]`` runs them all (see README §Benchmarks)."""
