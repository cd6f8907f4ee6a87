"""The exception types for user-facing errors: the CLI prints the message and exits non-zero."""


class GenaugError(Exception):
    """A problem with the user's input or environment, with a message that names it and the fix."""


class Diverged(GenaugError):
    """A generator's training went non-finite. train_gen records it in the generator file (so the
    grid runs on and the report names it) rather than failing; `history` is the loss log so far."""

    def __init__(self, message: str, history: list[dict] | None = None):
        super().__init__(message)
        self.history = history or []


def rebuild_hint(path) -> str:
    """The fix for a damaged or stale output: the command that rebuilds it. Deleting the file is not one: with
    its dependents present, `snakemake` then finds nothing to do."""
    return (f"rebuild it with `snakemake {path} --force` from the workflow's directory; then `snakemake` reruns "
            "what depends on it")
