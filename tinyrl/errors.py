"""Errors a user can fix. The CLI prints them as one line, without a traceback."""


class TinyRLError(Exception):
    """Base class for every error TinyRL raises on bad input."""


class ConfigError(TinyRLError, ValueError):
    """A configuration, course or parameter file is malformed; the message names the field."""


class ModelError(TinyRLError, ValueError):
    """A model file (e.g. a ``.tflite``) is malformed or uses something TinyRL cannot run; the message says what."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C (work is saved, child processes stop); the command then exits 143."""
