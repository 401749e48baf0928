"""Training with stable-baselines3: run folders, checkpoints, resume, evaluation and policy artefacts."""
