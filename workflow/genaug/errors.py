"""The one exception type for user-facing errors: the CLI prints its message and exits non-zero."""


class GenaugError(Exception):
    """A problem with the user's input or environment, with a message that names it and the fix."""
