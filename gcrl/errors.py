"""Errors meant for the user: the command line prints their message, never a traceback."""


class GcrlError(Exception):
    """A problem the user can fix; the message says what is wrong and how to fix it."""


class DatasetError(GcrlError):
    """A dataset that is missing, malformed or cannot be read."""


class DivergenceError(GcrlError):
    """Training produced NaN or inf; the message names the loss, the update and the kept checkpoint."""
