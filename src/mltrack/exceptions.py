"""Every error mltrack raises on purpose.

The tree::

    MltrackError                     INTERNAL_ERROR           500  exit 1
    ├── InvalidParameterValue        INVALID_PARAMETER_VALUE  400  exit 1
    │   ├── FilterSyntaxError        (a malformed search filter; names the position)
    │   ├── SchemaEnforcementError   (model input does not match the signature)
    │   └── BadRequest               BAD_REQUEST              400  (a body that does not parse)
    │       ├── UnsupportedMediaType                          415  (unknown Content-Type)
    │       └── RequestTooLarge      RESOURCE_LIMIT_EXCEEDED  413  (body over the server's limit)
    ├── ResourceDoesNotExist         RESOURCE_DOES_NOT_EXIST  404  exit 1
    ├── ResourceAlreadyExists        RESOURCE_ALREADY_EXISTS  400  exit 1
    ├── Unauthenticated              UNAUTHENTICATED          401  (no or wrong credentials)
    ├── PermissionDenied             PERMISSION_DENIED        403  (the user may not do that)
    ├── InvalidState                 INVALID_STATE            500  exit 1
    │   ├── NotAGitRepository        (no git repository around the path)
    │   ├── GitError                 (git refused or failed)
    │   └── CorruptStore             (a stored file is unreadable or invalid; names file and field)
    ├── StoreWriteError              TEMPORARILY_UNAVAILABLE  503  exit 1
    │                                (a write failed: disk full, read-only; says what is safe)
    ├── IntegrityError               DATA_LOSS                500  exit 1
    │                                (a model file does not match its recorded sha256)
    ├── ExecutionException           INTERNAL_ERROR           500  exit 1
    │                                (a project run failed, or its environment could not be built)
    └── NotOffered                   (also an AttributeError: ``mltrack.<name>`` that MLflow
                                     has and mltrack does not offer; says why)

Each class carries the MLflow error code, HTTP status and CLI exit code as class
attributes, so the CLI and both servers translate errors in one place.
``MlflowException`` is an alias of :class:`MltrackError` so that scripts written
for MLflow (``except mlflow.exceptions.MlflowException``) keep working.
"""

from __future__ import annotations

__all__ = [
    "BadRequest",
    "CorruptStore",
    "ExecutionException",
    "FilterSyntaxError",
    "GitError",
    "IntegrityError",
    "InvalidParameterValue",
    "InvalidState",
    "MlflowException",
    "MltrackError",
    "NotAGitRepository",
    "NotOffered",
    "PermissionDenied",
    "RequestTooLarge",
    "ResourceAlreadyExists",
    "ResourceDoesNotExist",
    "SchemaEnforcementError",
    "SigningError",
    "StoreWriteError",
    "Unauthenticated",
    "UnsupportedMediaType",
]


class MltrackError(Exception):
    """Base class of every error mltrack raises on purpose."""

    error_code: str = "INTERNAL_ERROR"
    http_status: int = 500
    exit_code: int = 1

    def __init__(self, message: str, error_code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if error_code is not None:
            self.error_code = error_code

    def to_dict(self) -> dict[str, str]:
        """The JSON error body MLflow's REST API returns."""
        return {"error_code": self.error_code, "message": self.message}


class InvalidParameterValue(MltrackError):
    """A caller passed a value mltrack cannot accept (bad name, key, value or id format)."""

    error_code = "INVALID_PARAMETER_VALUE"
    http_status = 400


class FilterSyntaxError(InvalidParameterValue):
    """A search filter or order_by clause that does not parse; the message names the position."""

    def __init__(self, message: str, text: str = "", position: int | None = None) -> None:
        if position is not None and text:
            pointer = f"{text}\n{' ' * position}^"
            message = f"{message} (at position {position})\n{pointer}"
        super().__init__(message)
        self.text = text
        self.position = position


class SchemaEnforcementError(InvalidParameterValue):
    """Model input does not match the model's signature."""


class BadRequest(InvalidParameterValue):
    """A request body or input file that cannot be parsed (MLflow's scoring server says BAD_REQUEST)."""

    error_code = "BAD_REQUEST"


class UnsupportedMediaType(BadRequest):
    """A scoring request whose Content-Type the server does not read."""

    http_status = 415


class RequestTooLarge(BadRequest):
    """A scoring request whose body is larger than the server accepts."""

    error_code = "RESOURCE_LIMIT_EXCEEDED"
    http_status = 413


class ResourceDoesNotExist(MltrackError):
    """No run, experiment, model, version, stage, alias or file of that name or id."""

    error_code = "RESOURCE_DOES_NOT_EXIST"
    http_status = 404


class ResourceAlreadyExists(MltrackError):
    """An experiment or registered model of that name already exists."""

    error_code = "RESOURCE_ALREADY_EXISTS"
    http_status = 400


class Unauthenticated(MltrackError):
    """A team server (``--auth``) got no credentials, or wrong ones."""

    error_code = "UNAUTHENTICATED"
    http_status = 401


class PermissionDenied(MltrackError):
    """The authenticated user lacks the permission the request needs."""

    error_code = "PERMISSION_DENIED"
    http_status = 403


class InvalidState(MltrackError):
    """The repository is not in a state mltrack can work with."""

    error_code = "INVALID_STATE"
    http_status = 500


class NotAGitRepository(InvalidState):
    """mltrack stores everything in git and was pointed at a directory outside any repository."""


class GitError(InvalidState):
    """git refused an operation or failed."""


class SigningError(GitError):
    """git's configured signing (``commit.gpgsign``, ``tag.gpgSign``) failed: nothing was written."""


class CorruptStore(InvalidState):
    """A file under ``.mltrack/`` is unreadable or does not match its schema."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class StoreWriteError(MltrackError):
    """The store could not write a file (disk full, quota, read-only file system).

    The message says what is safe on disk, what is still in memory and how to
    finish (free space, retry, ``mltrack commit``). A server answers 503 so that
    clients retry: nothing of a refused change was stored.
    """

    error_code = "TEMPORARILY_UNAVAILABLE"
    http_status = 503


class IntegrityError(MltrackError):
    """A model file's sha256 differs from the one recorded when it was saved."""

    error_code = "DATA_LOSS"
    http_status = 500


class ExecutionException(MltrackError):
    """A project run failed or was interrupted, or its environment could not be built.

    MLflow raises the same class from ``mlflow.projects.run``. ``run_id`` names the
    recorded run when there is one.
    """

    def __init__(self, message: str, run_id: str | None = None) -> None:
        super().__init__(message)
        self.run_id = run_id


MlflowException = MltrackError


class NotOffered(MltrackError, AttributeError):
    """An MLflow top-level name mltrack does not offer (``hasattr`` is False for it)."""
