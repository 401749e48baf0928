"""TinyRL: reinforcement learning for nano drones, from simulation to an int8 policy on a Cortex-M4."""

__version__ = "0.1.0"

from tinyrl.common.tensorflow_env import tensorboard_without_tensorflow

# Before anything imports SB3 (the tasks' vector env does): training and evaluation never load TensorFlow.
tensorboard_without_tensorflow()

from tinyrl.tasks import register_envs  # noqa: E402

register_envs()
