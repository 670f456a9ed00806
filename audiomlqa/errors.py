"""The one exception type users see: a one-line message that says what went wrong and what to do."""


def first_line(error: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message (or its type): third-party errors inside one-line reports."""
    return (str(error).strip().splitlines() or [error.__class__.__name__])[0][:limit]


class AudioMLQAError(Exception):
    """An error caused by input or environment, reported by the CLI as one line without a traceback."""
