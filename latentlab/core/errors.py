"""Errors that mean "the user asked for something that cannot be done".

Each carries one sentence that says what is wrong and what to do. The CLI prints it and
exits with code 2; the GUI shows it in a dialog. Anything else is a bug.
"""


class LatentlabError(Exception):
    """Base class for the user's mistakes and the environment's refusals."""


class ConfigError(LatentlabError, ValueError):
    """A setting is out of range or inconsistent with another."""


class DataError(LatentlabError):
    """A dataset is missing, damaged or in an unexpected format."""


class CheckpointError(LatentlabError):
    """A run folder is missing, foreign or damaged."""


class TrainingDiverged(LatentlabError):
    """The loss became NaN or infinite; training stopped with the last good checkpoint kept."""

    def __init__(self, message: str, step: int):
        super().__init__(message)
        self.step = step


class DeviceError(LatentlabError):
    """The requested device is not available, or it ran out of memory."""


class FetchCancelled(LatentlabError):
    """The user cancelled a dataset download; nothing partial was left behind."""


def os_error_sentence(exc: OSError) -> str:
    """One sentence for an operating-system refusal that no nearer code turned into advice."""
    what = f"Could not use {exc.filename}" if exc.filename else "The operating system refused"
    return f"{what} ({exc.strerror or exc}); check that the path exists and can be written and that the disk has room."
