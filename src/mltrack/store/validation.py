"""Input rules every public entry point applies before anything is written.

They follow MLflow's (``mlflow/utils/validation.py``) so scripts that pass
MLflow's checks pass ours, with two deliberate differences: values longer than
the limit are refused rather than truncated, and names that would escape a
directory (``../x``) are refused for experiments as well.
"""

from __future__ import annotations

import math
import numbers
import posixpath
import re
from typing import Any

from mltrack import safepath
from mltrack.exceptions import InvalidParameterValue

__all__ = [
    "MAX_EXPERIMENT_NAME_LENGTH",
    "MAX_FILE_NAME_BYTES",
    "MAX_KEY_LENGTH",
    "MAX_PARAM_VALUE_LENGTH",
    "MAX_TAG_VALUE_LENGTH",
    "artifact_path",
    "dataset_input",
    "experiment_name",
    "experiment_tag_value",
    "key",
    "metric_step",
    "metric_timestamp",
    "metric_value",
    "param_value",
    "run_id",
    "run_name",
    "source_run_id",
    "tag_value",
    "valid_unicode",
]

MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_EXPERIMENT_NAME_LENGTH = 500
MAX_EXPERIMENT_TAG_VALUE_LENGTH = 20000
MAX_RUN_NAME_LENGTH = 250
MAX_DATASET_NAME_LENGTH = 500
MAX_DATASET_DIGEST_LENGTH = 36
MAX_FILE_NAME_BYTES = 200
MAX_SOURCE_RUN_ID_LENGTH = 256

_KEY = re.compile(r"^[/\w.\- :]+$")
_RUN_ID = re.compile(r"^[a-zA-Z0-9][\w\-]{0,255}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
known_keys: set[str] = set()  # keys already checked (a training loop logs the same few)


def key(value: Any, kind: str = "key") -> str:
    """A metric, param or tag key (MLflow's character and path rules)."""
    if value in known_keys:
        return str(value)
    if not isinstance(value, str) or not value:
        raise InvalidParameterValue(f"Invalid {kind} {value!r}: it must be a non-empty string.")
    if len(value) > MAX_KEY_LENGTH:
        raise InvalidParameterValue(
            f"Invalid {kind} {value[:40]!r}…: longer than {MAX_KEY_LENGTH} characters."
        )
    if not _KEY.fullmatch(value):
        raise InvalidParameterValue(
            f"Invalid {kind} {value!r}: names may only contain alphanumerics, underscores (_), "
            "dashes (-), periods (.), spaces ( ), colons (:) and slashes (/)."
        )
    normal = posixpath.normpath(value)
    if normal != value or normal == "." or normal.startswith(("..", "/")):
        raise InvalidParameterValue(
            f"Invalid {kind} {value!r}: it would resolve to {normal!r} when treated as a path."
        )
    if len(known_keys) < 100_000:
        known_keys.add(value)
    return value


def param_value(name: str, value: Any) -> str:
    text = valid_unicode(f"value of param {name!r}", str(value))
    if len(text) > MAX_PARAM_VALUE_LENGTH:
        raise InvalidParameterValue(
            f"Param {name!r} has a value of {len(text)} characters; the limit is "
            f"{MAX_PARAM_VALUE_LENGTH}. Log long text as an artifact (log_text) instead."
        )
    return text


def tag_value(name: str, value: Any, limit: int = MAX_TAG_VALUE_LENGTH) -> str:
    text = valid_unicode(f"value of tag {name!r}", str(value))
    if len(text) > limit:
        raise InvalidParameterValue(
            f"Tag {name!r} has a value of {len(text)} characters; the limit is {limit}."
        )
    return text


def experiment_tag_value(name: str, value: Any) -> str:
    return tag_value(name, value, MAX_EXPERIMENT_TAG_VALUE_LENGTH)


def metric_value(name: str, value: Any) -> float:
    """A metric value as float: any real number, NaN and ±Inf included (as MLflow)."""
    kind = type(value)
    if kind is float:
        return value
    if kind is int:
        return float(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidParameterValue(
            f"Metric {name!r} got the value {value!r} of type {type(value).__name__}; "
            "metric values must be numbers (int or float; NaN and ±Inf are allowed)."
        )
    return float(value)


def metric_step(name: str, step: Any) -> int:
    if type(step) is int:
        return step
    if step is None:
        return 0
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        if isinstance(step, float) and step.is_integer():
            return int(step)
        raise InvalidParameterValue(f"Metric {name!r} got step {step!r}: steps must be integers.")
    return int(step)


def metric_timestamp(name: str, timestamp: Any) -> int:
    if type(timestamp) is int and timestamp >= 0:
        return timestamp
    if isinstance(timestamp, bool) or not isinstance(timestamp, numbers.Real) or timestamp < 0:
        raise InvalidParameterValue(
            f"Metric {name!r} got timestamp {timestamp!r}: timestamps are non-negative "
            "milliseconds since the epoch."
        )
    if isinstance(timestamp, float) and not math.isfinite(timestamp):
        raise InvalidParameterValue(f"Metric {name!r} got a non-finite timestamp.")
    return int(float(timestamp))


def experiment_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidParameterValue(
            f"Invalid experiment name {value!r}: it must be a non-empty string."
        )
    if len(value) > MAX_EXPERIMENT_NAME_LENGTH:
        raise InvalidParameterValue(
            f"Invalid experiment name: {len(value)} characters is longer than the limit of "
            f"{MAX_EXPERIMENT_NAME_LENGTH}."
        )
    _refuse_path_tricks("experiment name", value)
    return value


def run_name(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidParameterValue(f"Invalid run name {value!r}: it must be a string.")
    if len(value) > MAX_RUN_NAME_LENGTH:
        raise InvalidParameterValue(
            f"Invalid run name: {len(value)} characters is longer than the limit of "
            f"{MAX_RUN_NAME_LENGTH}."
        )
    _refuse_path_tricks("run name", value)
    return value


def _refuse_path_tricks(kind: str, value: str) -> None:
    valid_unicode(kind, value)
    if _CONTROL.search(value):
        raise InvalidParameterValue(
            f"Invalid {kind} {value!r}: control characters are not allowed."
        )
    if ".." in value.replace("\\", "/").split("/"):
        raise InvalidParameterValue(
            f"Invalid {kind} {value!r}: a '..' path segment is not allowed in names."
        )


def _refuse_long_file_name(kind: str, value: str, part: str) -> None:
    try:
        size = len(part.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidParameterValue(
            f"Invalid {kind} {value!r}: it is not valid Unicode (a lone surrogate)."
        ) from None
    if size > MAX_FILE_NAME_BYTES:
        raise InvalidParameterValue(
            f"Invalid {kind} {value[:60]!r}…: the name {part[:40]!r}… is {size} bytes; file "
            f"names are limited to {MAX_FILE_NAME_BYTES} bytes (the file system's 255, less "
            "room for the temporary file written beside it)."
        )


def valid_unicode(kind: str, value: str) -> str:
    """``value`` unless it holds a lone surrogate, which no file can store."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidParameterValue(
                f"Invalid {kind} {value[:40]!r}: it is not valid Unicode (a lone surrogate)."
            ) from None
    return value


def dataset_input(item: dict[str, Any]) -> dict[str, Any]:
    """A run.yaml ``inputs`` entry, checked when logged (MLflow's dataset limits)."""
    for name, limit in (("name", MAX_DATASET_NAME_LENGTH), ("digest", MAX_DATASET_DIGEST_LENGTH)):
        value = item.get(name)
        if not isinstance(value, str) or not 1 <= len(value) <= limit:
            shown = (
                f"{value[:40]!r}…" if isinstance(value, str) and len(value) > 40 else repr(value)
            )
            raise InvalidParameterValue(
                f"Invalid dataset {name} {shown}: it must be a string of 1 to {limit} characters."
            )
    for name, optional in (
        ("source_type", False),
        ("source", False),
        ("schema", True),
        ("profile", True),
    ):
        value = item.get(name)
        if not (isinstance(value, str) or (optional and value is None)):
            raise InvalidParameterValue(f"Invalid dataset {name} {value!r}: it must be a string.")
    tags = item.get("tags", {})
    if not isinstance(tags, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
    ):
        raise InvalidParameterValue(
            f"Invalid dataset input tags {tags!r}: keys and values are strings."
        )
    return item


def run_id(value: Any) -> str:
    if not isinstance(value, str) or not _RUN_ID.fullmatch(value):
        raise InvalidParameterValue(f"Invalid run id {value!r}: run ids are 32 hex characters.")
    return value


def artifact_path(value: Any, kind: str = "artifact path") -> str:
    """A relative path inside a run's artifact root, normalised; no escape possible."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidParameterValue(f"Invalid {kind} {value!r}: it must be a string.")
    text = value.replace("\\", "/")
    if "\x00" in text or text.startswith("/") or re.match(r"^[A-Za-z]:", text):
        raise InvalidParameterValue(
            f"Invalid {kind} {value!r}: artifact paths must be relative to the run's artifact root."
        )
    # Empty and '.' components are dropped ("./model" is "model"); '..' and any
    # spelling of '.git' are refused (mltrack.safepath).
    parts = [part for part in text.split("/") if part not in ("", ".")]
    for part in parts:
        _refuse_long_file_name(kind, value, part)
        if part == "..":
            raise InvalidParameterValue(
                f"Invalid {kind} {value!r}: '..' would leave the run's artifact directory."
            )
        if safepath.is_dotgit(part):
            raise InvalidParameterValue(
                f"Invalid {kind} {value!r}: {part!r} is git's own directory name; git cannot "
                "store such a path and a clone would refuse it."
            )
    return "/".join(parts)


def source_run_id(value: Any) -> str:
    """The ``run_id`` of a version registered from outside this repository: MLflow takes any
    string there (another store's id, ``"run_id"``); it lands in a tag message, model.yaml
    and commit trailers, so it stays one line of printable text."""
    if not isinstance(value, str):
        raise InvalidParameterValue(f"Invalid run_id {value!r}: it must be a string.")
    valid_unicode("run_id", value)
    if _CONTROL.search(value) or len(value) > MAX_SOURCE_RUN_ID_LENGTH:
        raise InvalidParameterValue(
            f"Invalid run_id {value[:60]!r}: it must be at most {MAX_SOURCE_RUN_ID_LENGTH} "
            "characters without control characters (one line)."
        )
    return value
