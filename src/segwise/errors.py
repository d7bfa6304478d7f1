"""User-facing error types.

Every error that bad input can cause is raised as one of these, with a message that names the
argument or file, what was received and what to do. The CLI prints the message (no traceback) and
exits with status 2.
"""


class SegwiseError(Exception):
    """Base class of errors whose message is meant for the user."""


class InputError(SegwiseError, ValueError):
    """An argument, file or array was not what the function needs."""


class DataError(InputError):
    """A file on disk (image, mask, split list, class table) is missing, corrupt or inconsistent."""


class CheckpointError(InputError):
    """A checkpoint or exported model cannot be used (truncated, other version, wrong content)."""
