"""Train a policy: ``python scripts/train.py --env obstacle-course`` (the same as ``tinyrl train``).

Flags: ``--env NAME [--algo ppo|sac|td3|dqn] [--steps N] [--seed S] [--n-envs N] [--out DIR] [--resume RUN_DIR]``;
defaults come from ``envs/NAME.yaml``. Writes ``runs/NAME/YYYYmmdd-HHMMSS/``.
"""

import sys

from tinyrl.cli import main

if __name__ == "__main__":
    # sys.argv stays as typed: the run records it as the command that made it.
    main(["train", *sys.argv[1:]])
