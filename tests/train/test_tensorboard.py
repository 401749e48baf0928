"""Training writes TensorBoard logs without loading TensorFlow (installed here for the compress stage)."""

import json
import subprocess
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

# What a training process does: import TinyRL, then SB3, and log a scalar through SB3's TensorBoard writer.
_TRAINING_PROCESS = """
import json, sys
import tinyrl.train.trainer
from stable_baselines3.common.logger import configure
logger = configure(sys.argv[1], ["tensorboard"])
logger.record("rollout/success_rate", 0.75)
logger.dump(step=1024)
logger.close()
print(json.dumps({"tensorflow_loaded": "tensorflow" in sys.modules}))
"""


def test_training_logs_tensorboard_events_without_loading_tensorflow(tmp_path):
    import tensorflow  # noqa: F401  (the premise: TensorFlow is installed, so only TinyRL's setting keeps it out)

    out = subprocess.run(
        [sys.executable, "-c", _TRAINING_PROCESS, str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.splitlines()[-1]) == {"tensorflow_loaded": False}
    (events,) = tmp_path.rglob("events.out.tfevents.*")
    accumulator = EventAccumulator(str(events.parent))
    accumulator.Reload()
    (scalar,) = accumulator.Scalars("rollout/success_rate")
    assert (scalar.step, scalar.value) == (1024, 0.75)
