"""Shared test set-up: pytest puts this folder on ``sys.path``, so every test can import ``scenario_support``."""
