"""What every stage after the tasks shares.

The :class:`~tinyrl.common.policy.Policy` protocol and the float MLP, the closed-loop episode loop that evaluation,
report episodes and HIL all fly (:mod:`~tinyrl.common.episodes`), evaluation, the plot helpers, and TensorFlow's
environment defaults (:mod:`~tinyrl.common.tensorflow_env`).

Layers import downwards only (``scripts/check_layers.py``): sim → tasks → common → train → compress → export →
hil / report / scale → the ``tinyrl`` command.
"""
