"""What every flavor shares: an atomic build directory, environment files, checked loading.

A flavor writes its native files, the input example and MLmodel into a hidden
sibling directory, which replaces the target only once complete, so a failed
save never leaves a half-written model behind. Loading resolves the URI and
checks every file's sha256 before the flavor deserializes anything.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from mltrack.exceptions import InvalidParameterValue
from mltrack.models.model import Model, verify_directory, write_environment
from mltrack.models.requirements import distributions_for_modules
from mltrack.models.saving import prepare_target, save_example
from mltrack.models.signature import ModelSignature, infer_signature
from mltrack.models.uri import resolve

__all__ = [
    "build_directory",
    "example_signature",
    "flavor_file",
    "open_flavor",
    "sample",
    "write_requirements",
]


@contextlib.contextmanager
def build_directory(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A fresh directory that becomes ``path`` when the block succeeds (``path`` must be new or empty)."""
    target = prepare_target(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=".mltrack-model-", dir=target.parent))
    try:
        yield build
        if target.exists():
            target.rmdir()
        os.replace(build, target)
    finally:
        if build.exists():
            shutil.rmtree(build, ignore_errors=True)


def sample(example: Any, rows: int = 5) -> Any:
    return example.head(rows) if hasattr(example, "head") else example[:rows]


def example_signature(
    build: Path,
    model: Model,
    input_example: Any,
    signature: ModelSignature | None,
    predict: Callable[[Any], Any],
) -> ModelSignature | None:
    """Save the input example (if any); infer the signature from it unless one was given."""
    if input_example is None:
        return signature
    example = save_example(build, model, input_example)
    if signature is None:
        rows = sample(example)
        signature = infer_signature(rows, predict(rows))
    return signature


def write_requirements(
    build: Path,
    modules: Iterable[str],
    pip_requirements: list[str] | None,
    extra_pip_requirements: list[str] | None,
) -> list[str]:
    """requirements.txt / python_env.yaml / conda.yaml from the distributions behind ``modules``."""
    return write_environment(
        build, distributions_for_modules(modules), pip_requirements, extra_pip_requirements
    )


def open_flavor(model_uri: str, flavor: str) -> tuple[Path, Model]:
    """The model directory behind ``model_uri`` and its MLmodel, files checked, with ``flavor``."""
    resolved = resolve(model_uri)
    model = Model.load(resolved.directory)
    if flavor not in model.flavors:
        raise InvalidParameterValue(f'Model at {model_uri} does not have the "{flavor}" flavor.')
    verify_directory(resolved.directory, model, resolved.mlmodel_sha256)
    resolved.verify_files(resolved.directory)
    return resolved.directory, model


def flavor_file(directory: Path, conf: dict[str, Any], key: str) -> Path:
    """The file or directory a flavor's MLmodel entry names (refusing paths out of the model)."""
    relative = conf.get(key)
    if not isinstance(relative, str) or not relative:
        raise InvalidParameterValue(f"{directory / 'MLmodel'} names no model file ({key!r}).")
    path = (directory / relative).resolve()
    if not path.is_relative_to(directory.resolve()):
        raise InvalidParameterValue(
            f"{directory / 'MLmodel'}: {key} {relative!r} leaves the model directory."
        )
    if not path.exists():
        from mltrack.exceptions import ResourceDoesNotExist

        raise ResourceDoesNotExist(f"Model file {path} is missing.")
    return path
