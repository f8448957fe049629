"""Experiment tooling: sweeps of runs (sweep, sweep_worker), their report and plots (report, plots),
the published numbers (reference), and how far a value function knows its maze (value_check)."""
