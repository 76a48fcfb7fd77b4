"""The one exception type for errors a user can cause and fix."""


class BrushworkError(Exception):
    """Bad input, a missing or corrupt file, an unknown name: the message says what to do.

    The library raises it; the command line prints its message on one line and exits
    non-zero, never a traceback.
    """
