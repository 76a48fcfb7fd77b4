"""The one exception type for errors a user can cause and fix."""


class BrushworkError(Exception):
    """Bad input, a missing or corrupt file, an unknown name: the message says what to do.

    The library raises it; the command line prints its message on one line and exits
    non-zero, never a traceback.
    """


#: Most characters of a client's value that an error message quotes (ours): enough to
#: recognise a name or a typo, while a megabyte-long value is not echoed back whole.
QUOTE_LIMIT = 60


def quoted(value: object, limit: int = QUOTE_LIMIT) -> str:
    """``repr(value)`` for an error message, cut to ``limit`` characters with its length said.

    Messages quote what a client sent (a style id, a file name, a Host header); quoting it
    whole would let a client make the server echo any amount of text back
    (docs/reliability.md, "Defects found and fixed").
    """
    text = repr(value) if isinstance(value, str) else repr(str(value))
    if len(text) <= limit:
        return text
    length = len(value) if isinstance(value, str) else len(str(value))
    return f"{text[: limit - 1]}… ({length:,} characters)"
