"""Files of a model at any URI: a new signature in its MLmodel (``set_signature``) and its
dependency files (``get_model_dependencies``), as MLflow's functions of those names.

A model logged in a run is rewritten in place and its recorded MLmodel hash follows
(the change is committed at once when the run already ended); a registered
version is a git tag's snapshot and stays read-only, as MLflow's registry is.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

from mltrack.entities import LoggedModelStatus, RunStatus
from mltrack.exceptions import InvalidParameterValue, ResourceDoesNotExist
from mltrack.models.model import MLMODEL, Model, verify_directory
from mltrack.models.signature import ModelSignature
from mltrack.models.uri import resolve
from mltrack.store import validation, yamlio
from mltrack.tracking import fluent
from mltrack.uris import MODELS_SCHEME, RUNS_SCHEME, parse_models_uri, parse_runs_uri

__all__ = ["get_model_dependencies", "set_signature"]

logger = logging.getLogger("mltrack")

REQUIREMENTS = "requirements.txt"


def set_signature(model_uri: str, signature: ModelSignature) -> None:
    """Replace the signature in the MLmodel of the model at ``model_uri``."""
    if not isinstance(signature, ModelSignature):
        raise InvalidParameterValue("The signature argument must be a ModelSignature object.")
    model_id: str | None = None
    run_id: str | None = None
    if isinstance(model_uri, str) and model_uri.startswith(MODELS_SCHEME):
        model_id = parse_models_uri(model_uri).model_id
        if model_id is None:
            raise InvalidParameterValue(
                f"Failed to set signature on {model_uri!r}. Model URIs with the "
                "`models:/<name>/<version>` scheme are not supported: a registered version is "
                "read-only. Set the signature on its source (runs:/ or models:/m-<id>) and "
                "register that as a new version."
            )
    resolved = resolve(model_uri)
    model = Model.load(resolved.directory)
    # Never bless a file changed since it was logged by recording its new hash.
    verify_directory(resolved.directory, model, resolved.mlmodel_sha256)
    model.signature = signature
    (resolved.directory / MLMODEL).write_bytes(yamlio.dump(model.to_dict()))

    client = fluent.client()
    if client.remote:  # the scratch copy's new MLmodel goes back to the server, as MLflow's does
        from mltrack.models import remote

        remote.replace_model_file(
            client,  # type: ignore[arg-type]
            model_uri,
            MLMODEL,
            (resolved.directory / MLMODEL).read_bytes(),
        )
        return
    if model_uri.startswith(RUNS_SCHEME):
        parsed = parse_runs_uri(model_uri)
        run_id = client.repository.runs.resolve_id(parsed.run_id)
        relative = validation.artifact_path(parsed.path)
        outputs = client.repository.runs.get(run_id).outputs
        model_id = next((o["model_id"] for o in outputs if o["artifact_path"] == relative), None)
    if model_id is not None:
        logged = client.get_logged_model(model_id)
        run_id = logged.files_run_id
        if logged.status == LoggedModelStatus.READY:
            client.finalize_logged_model(model_id, LoggedModelStatus.READY)  # records the new hash
            return
    if run_id is not None and RunStatus.is_terminated(client.repository.runs.get(run_id).status):
        client.repository.runs.commit_run(run_id)


def _conda_yaml(directory: Path, model: Model) -> Path:
    env = (model.flavors.get("python_function") or {}).get("env")
    name = env if isinstance(env, str) else (env or {}).get("conda")
    path = directory / (name or "conda.yaml")
    if not path.is_file():
        raise ResourceDoesNotExist(f"The model at {directory} has no conda environment file.")
    return path


def get_model_dependencies(model_uri: str, format: str = "pip") -> str:
    """The local path of the model's ``requirements.txt`` (``format="pip"``) or ``conda.yaml``.

    A model stored in this repository (``runs:/``, ``models:/``) is not handed out in
    place: its file is copied to a new temporary directory first, as MLflow downloads it.
    """
    if format not in ("pip", "conda"):
        raise InvalidParameterValue(f"Illegal format argument '{format}'.")
    resolved = resolve(model_uri)
    directory = resolved.directory
    model = Model.load(directory)
    verify_directory(directory, model, resolved.mlmodel_sha256)
    resolved.verify_files(directory)
    stored = model_uri.startswith((RUNS_SCHEME, MODELS_SCHEME))
    target = Path(tempfile.mkdtemp(prefix="mltrack-dependencies-")) if stored else None

    def handed_out(path: Path) -> str:
        if target is None:
            return str(path)
        return str(shutil.copy2(path, target / path.name))

    if format == "conda":
        return handed_out(_conda_yaml(directory, model))
    requirements = directory / REQUIREMENTS
    if requirements.is_file():
        found = handed_out(requirements)
    else:
        logger.info(
            "%s is not found in the model directory. Falling back to extracting pip requirements "
            "from the model's 'conda.yaml' file. Conda dependencies will be ignored.",
            REQUIREMENTS,
        )
        conda = yamlio.load(_conda_yaml(directory, model).read_bytes()) or {}
        dependencies = list(conda.get("dependencies") or [])
        pip = next((d["pip"] for d in dependencies if isinstance(d, dict) and "pip" in d), None)
        if pip is None:
            raise ResourceDoesNotExist(
                "No pip section found in conda.yaml file in the model directory."
            )
        others = [str(d) for d in dependencies if not (isinstance(d, dict) and "pip" in d)]
        if others:
            logger.warning(
                "The following conda dependencies have been excluded from the environment file: "
                "%s.",
                ", ".join(others),
            )
        out = (target or Path(tempfile.mkdtemp(prefix="mltrack-dependencies-"))) / REQUIREMENTS
        out.write_text("\n".join(map(str, pip)) + "\n")
        found = str(out)
    logger.info(
        "To install the dependencies that were used to train the model, run the following "
        "command: 'pip install -r %s'.",
        found,
    )
    return found
