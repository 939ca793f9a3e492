"""Sweeps: which arms a grid runs (and why others are left out), how it ended, what it will cost
(``make plan``), where it stands (``make status``), and an Optuna study's history."""
