"""Keel's exceptions.

    KeelError                 anything Keel reports to a user as a message, never a traceback
    ├── ConfigError           keel.toml (or a file it names) is invalid
    ├── DataError             a data source cannot be read or holds the wrong thing
    ├── RegistryError         the model registry cannot do what was asked (nothing changed)
    └── CheckError            a check could not run (becomes `error` evidence)

The CLI turns any KeelError into its message and exit status 2.
"""

from __future__ import annotations


class KeelError(Exception):
    """An error whose message is meant for the user as it is."""


class ConfigError(KeelError):
    """keel.toml, or something it points at, is not what Keel expects."""


class DataError(KeelError):
    """A data source is missing, unreadable, or does not hold what the configuration says."""


class RegistryError(KeelError):
    """The model registry cannot do what was asked; nothing in it was changed."""


class CheckError(KeelError):
    """A check could not run to completion."""
