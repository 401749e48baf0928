"""Tasks: Gymnasium environments, the batched vector env and obstacle-course generation."""
