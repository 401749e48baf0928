"""Shrinking policies: distillation, int8 quantization and the int8 reference executor."""
