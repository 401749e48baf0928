"""Scale-out on Ray: hyperparameter and seed sweeps (Ray Tune + Optuna + ASHA) and sharded evaluation."""
