"""The MLmodel file and the model directory around it.

A model directory is what MLflow writes: ``MLmodel`` (YAML), the flavor's files,
``requirements.txt``, ``python_env.yaml``, ``conda.yaml`` and the input example.
mltrack adds one key MLflow ignores and keeps, ``mltrack.files``: the sha256 of
every other file, checked before anything is unpickled, so a tampered file is
refused by name. MLmodel itself is only ever parsed with a safe YAML loader;
its own hash is recorded outside the directory (run.yaml, the version's tag).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import uuid
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from mltrack import __version__
from mltrack.exceptions import IntegrityError, InvalidParameterValue, ResourceDoesNotExist
from mltrack.gitstore.lfs import LfsObjectMissing, missing_message, pointer_file
from mltrack.hashing import sha256_file
from mltrack.models.signature import ModelSignature
from mltrack.store import yamlio

__all__ = [
    "MLMODEL",
    "Model",
    "ModelInfo",
    "file_hashes",
    "installed_version",
    "verify_directory",
    "write_environment",
]

MLMODEL = "MLmodel"


def file_hashes(directory: Path, exclude: tuple[str, ...] = (MLMODEL,)) -> dict[str, str]:
    """sha256 of every file under ``directory`` (POSIX relative paths), except ``exclude``."""
    hashes = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            relative = path.relative_to(directory).as_posix()
            if relative not in exclude:
                hashes[relative] = sha256_file(path)
    return hashes


@dataclass
class Model:
    """An MLmodel file: flavors, signature, example and provenance."""

    artifact_path: str | None = None
    run_id: str | None = None
    model_id: str | None = None
    model_uuid: str = field(default_factory=lambda: uuid.uuid4().hex)
    utc_time_created: str = field(
        default_factory=lambda: str(dt.datetime.now(dt.timezone.utc).replace(tzinfo=None))
    )
    flavors: dict[str, dict[str, Any]] = field(default_factory=dict)
    signature: ModelSignature | None = None
    saved_input_example_info: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # keys other tools wrote; kept on rewrite

    def add_flavor(self, name: str, **params: Any) -> Model:
        self.flavors[name] = params
        return self

    def info(
        self,
        model_uri: str,
        *,
        artifact_path: str | None = None,
        model_id: str | None = None,
        run_id: str | None = None,
        registered_model_version: int | None = None,
    ) -> ModelInfo:
        """The :class:`ModelInfo` ``log_model`` returns for this model, found at ``model_uri``."""
        return ModelInfo(
            artifact_path=artifact_path if artifact_path is not None else self.artifact_path or "",
            flavors=self.flavors,
            model_uri=model_uri,
            model_id=model_id if model_id is not None else self.model_id or "",
            run_id=run_id if run_id is not None else self.run_id or "",
            signature=self.signature,
            utc_time_created=self.utc_time_created,
            mlflow_version=self.extra.get("mlflow_version"),
            registered_model_version=registered_model_version,
            metadata=self.metadata,
        )

    @property
    def files(self) -> dict[str, str]:
        """The sha256 manifest mltrack recorded at save time (empty for MLflow-written models)."""
        return dict((self.extra.get("mltrack") or {}).get("files") or {})

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.extra)
        out.update(
            {
                "flavors": self.flavors,
                "model_uuid": self.model_uuid,
                "model_id": self.model_id,
                "utc_time_created": self.utc_time_created,
            }
        )
        if self.artifact_path is not None:
            out["artifact_path"] = self.artifact_path
        if self.run_id is not None:
            out["run_id"] = self.run_id
        if self.signature is not None:
            out["signature"] = self.signature.to_dict()
        if self.saved_input_example_info is not None:
            out["saved_input_example_info"] = self.saved_input_example_info
        if self.metadata is not None:
            out["metadata"] = self.metadata
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Model:
        known = {
            "artifact_path", "run_id", "model_id", "model_uuid", "utc_time_created",
            "flavors", "signature", "saved_input_example_info", "metadata",
        }  # fmt: skip
        signature = data.get("signature")
        return cls(
            artifact_path=data.get("artifact_path"),
            run_id=data.get("run_id"),
            model_id=data.get("model_id"),
            model_uuid=data.get("model_uuid") or "",
            utc_time_created=str(data.get("utc_time_created") or ""),
            flavors=dict(data.get("flavors") or {}),
            signature=ModelSignature.from_dict(signature) if isinstance(signature, dict) else None,
            saved_input_example_info=data.get("saved_input_example_info"),
            metadata=data.get("metadata"),
            extra={k: v for k, v in data.items() if k not in known},
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Model:
        """Read ``MLmodel`` from a model directory (or the file itself); safe YAML only."""
        location = Path(path)
        file = location / MLMODEL if location.is_dir() else location
        if not file.is_file():
            raise ResourceDoesNotExist(
                f"No MLmodel file in {location}: it is not a model directory."
            )
        if pointer_file(file) is not None:
            raise LfsObjectMissing(missing_message([str(file)]))
        try:
            data = yamlio.load(file.read_bytes())
        except Exception as error:  # yaml raises many types; all mean "unreadable"
            raise InvalidParameterValue(f"{file}: not a readable MLmodel file ({error})") from None
        if not isinstance(data, dict) or not isinstance(data.get("flavors"), dict):
            raise InvalidParameterValue(f"{file}: not an MLmodel file (no 'flavors' mapping).")
        return cls.from_dict(data)

    def save(self, directory: Path) -> None:
        """Write MLmodel, recording the sha256 of every other file in the directory."""
        manifest = dict(self.extra.get("mltrack") or {})
        manifest["files"] = file_hashes(directory)
        manifest["version"] = __version__
        self.extra["mltrack"] = manifest
        size = sum(
            p.stat().st_size for p in directory.rglob("*") if p.is_file() and p.name != MLMODEL
        )
        self.extra["model_size_bytes"] = size
        (directory / MLMODEL).write_bytes(yamlio.dump(self.to_dict()))

    def get_input_schema(self) -> Any:
        return self.signature.inputs if self.signature else None

    def get_output_schema(self) -> Any:
        return self.signature.outputs if self.signature else None

    def load_input_example(self, directory: Path) -> Any:
        info = self.saved_input_example_info
        if not info:
            return None
        data = json.loads((directory / info["artifact_path"]).read_text())
        if info.get("type") == "dataframe":
            import pandas as pd

            return pd.DataFrame(data["data"], columns=data.get("columns"), index=data.get("index"))
        if info.get("type") == "ndarray":
            import numpy as np

            return np.asarray(data)
        return data


@dataclass(frozen=True)
class ModelInfo:
    """What ``log_model`` returns (MLflow's ModelInfo)."""

    artifact_path: str
    flavors: dict[str, Any]
    model_uri: str
    model_id: str
    run_id: str
    signature: ModelSignature | None
    utc_time_created: str
    mlflow_version: str | None = None
    registered_model_version: int | None = None
    metadata: dict[str, Any] | None = None

    @property
    def model_uuid(self) -> str:
        return self.model_id


def verify_directory(
    directory: Path, model: Model, expected_mlmodel_sha256: str | None = None
) -> None:
    """Refuse a model whose files differ from the hashes recorded when it was saved, and say
    `git lfs pull` when its files are git-lfs pointers whose content was not downloaded."""
    pointers = [
        str(directory / relative)
        for relative in [MLMODEL, *model.files]
        if pointer_file(directory / relative) is not None
    ]
    if pointers:
        raise LfsObjectMissing(missing_message(pointers))
    if expected_mlmodel_sha256 is not None:
        actual = sha256_file(directory / MLMODEL)
        if actual != expected_mlmodel_sha256:
            raise IntegrityError(
                f"Model file {directory / MLMODEL} was modified after it was saved (sha256 {actual[:12]}… "
                f"differs from the recorded {expected_mlmodel_sha256[:12]}…); refusing to load it."
            )
    for relative, expected in model.files.items():
        path = directory / relative
        if not path.is_file():
            raise IntegrityError(f"Model file {path} is missing; refusing to load the model.")
        actual = sha256_file(path)
        if actual != expected:
            raise IntegrityError(
                f"Model file {path} was modified after the model was saved (sha256 {actual[:12]}… "
                f"differs from the recorded {expected[:12]}…); refusing to load it."
            )


def installed_version(distribution: str) -> str | None:
    try:
        return importlib_metadata.version(distribution)
    except importlib_metadata.PackageNotFoundError:
        return None


def write_environment(
    directory: Path,
    packages: list[str],
    pip_requirements: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
) -> list[str]:
    """Write requirements.txt, python_env.yaml and conda.yaml with the versions installed now."""
    if pip_requirements is not None:
        requirements = list(pip_requirements)
    else:
        requirements = []
        for package in packages:
            version = installed_version(package)
            if version is not None:
                requirements.append(f"{package}=={version}")
    requirements += list(extra_pip_requirements or [])
    (directory / "requirements.txt").write_text("\n".join(requirements) + "\n")
    python = platform.python_version()
    pip = installed_version("pip") or "23.0"
    setuptools = installed_version("setuptools")
    build = [f"pip=={pip}"] + ([f"setuptools=={setuptools}"] if setuptools else []) + ["wheel"]
    (directory / "python_env.yaml").write_bytes(
        yamlio.dump(
            {"python": python, "build_dependencies": build, "dependencies": ["-r requirements.txt"]}
        )
    )
    (directory / "conda.yaml").write_bytes(
        yamlio.dump(
            {
                "channels": ["conda-forge"],
                "dependencies": [f"python={python}", f"pip<={pip}", {"pip": requirements}],
                "name": "mltrack-env",
            }
        )
    )
    return requirements
