"""Errors that vislab reports to the user.

`InputError` means the user's input (a config, an image, a CSV) has a problem that vislab
reported: the command line prints its message and exits with 1. `UsageError` means the command
was called wrongly: exit 2. Messages name the file, the row or the field and say what to do.
"""


class VislabError(Exception):
    """Base class of the errors vislab reports with a message instead of a traceback."""

    exit_code = 1


class InputError(VislabError):
    """The input (config, data, predictions) has a problem: exit code 1."""


class ConfigError(InputError):
    """A config file or override is invalid."""


class UsageError(VislabError):
    """The command was called wrongly: exit code 2."""

    exit_code = 2
