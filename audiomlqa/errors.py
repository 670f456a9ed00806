"""The one exception type users see: a one-line message that says what went wrong and what to do."""


class AudioMLQAError(Exception):
    """An error caused by input or environment, reported by the CLI as one line without a traceback."""
