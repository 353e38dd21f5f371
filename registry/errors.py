"""The registry's exceptions. ``str(exc)`` is always a sentence a user can act on."""

from __future__ import annotations

from dataclasses import dataclass


class RegistryError(Exception):
    """Base of every error the registry raises on purpose."""


class VersionNotFound(RegistryError):
    """No such model, version number or alias."""


@dataclass(frozen=True)
class BadValue:
    """The first value of the input that does not take its trained type."""

    row: int  # position in the input, 0-based
    column: str
    value: object
    expected: str  # "numbers", "dates"


class SchemaError(RegistryError):
    """Input columns do not fit the model's schema."""

    def __init__(
        self,
        message: str,
        *,
        missing: list[str] | None = None,
        wrong_type: dict[str, str] | None = None,
        bad_value: BadValue | None = None,
    ) -> None:
        super().__init__(message)
        self.missing = list(missing or [])
        self.wrong_type = dict(wrong_type or {})
        # So a caller streaming rows in batches can name the source row.
        self.bad_value = bad_value


class ModelUnavailable(RegistryError):
    """The version's files are missing, tampered with, or from another AutoGluon."""


class AutoGluonError(RegistryError):
    """AutoGluon itself failed (fit, load, predict); wraps the library's error."""


class DatasetError(RegistryError):
    """An uploaded or stored dataset cannot be read or is not acceptable."""


class SnapshotError(DatasetError):
    """A datasource query could not be snapshotted into a dataset.

    ``field`` names what is wrong: "datasource", "query" or "params".
    """

    def __init__(self, message: str, *, field: str = "query") -> None:
        super().__init__(message)
        self.field = field


class TrainingRefused(RegistryError):
    """Training settings or data refused before anything is queued or fitted.

    ``field`` names the form field to attach the message to ("" = the whole form).
    """

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class TrainingCancelled(RegistryError):
    """A user cancelled the training job while it ran."""
