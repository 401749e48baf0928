"""TinyRL: reinforcement learning for nano drones, from simulation to an int8 policy on a Cortex-M4."""

__version__ = "0.1.0"

from tinyrl.tasks import register_envs

register_envs()
