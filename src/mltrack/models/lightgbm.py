"""The LightGBM flavor: ``save_model``, ``log_model``, ``load_model``, ``autolog``.

As MLflow's ``mlflow.lightgbm``: a ``Booster`` is stored in LightGBM's text
format (``model.lgb``); a scikit-learn-API model (``LGBMClassifier``…) is
serialized like a scikit-learn model (``model.pkl`` with cloudpickle or pickle,
or ``model.skops``). MLflow defaults to skops there; mltrack defaults to
cloudpickle, as its sklearn flavor does, so no extra package is needed — the
file's sha256 is checked before it is unpickled.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

from mltrack.exceptions import InvalidParameterValue
from mltrack.models.model import Model, ModelInfo
from mltrack.models.signature import ModelSignature

__all__ = ["FLAVOR_NAME", "autolog", "load_model", "load_pyfunc", "log_model", "save_model"]

FLAVOR_NAME = "lightgbm"
SERIALIZATION_FORMATS = ("cloudpickle", "pickle", "skops")
_SKOPS_TRUSTED = [
    "collections.OrderedDict",
    "lightgbm.basic.Booster",
    "lightgbm.sklearn.LGBMClassifier",
    "lightgbm.sklearn.LGBMRegressor",
    "lightgbm.sklearn.LGBMRanker",
]


def save_model(
    lgb_model: Any,
    path: str | os.PathLike[str],
    conda_env: Any = None,
    code_paths: list[str] | None = None,
    mlflow_model: Model | None = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    pip_requirements: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    serialization_format: str = "cloudpickle",
    skops_trusted_types: list[str] | None = None,
    **_: Any,
) -> Model:
    """Save a LightGBM Booster or scikit-learn-API model as an MLflow-compatible directory."""
    import lightgbm as lgb

    from mltrack.models import pickling
    from mltrack.models.flavor import build_directory, example_signature, write_requirements
    from mltrack.models.requirements import modules_in_pickle

    if not isinstance(lgb_model, (lgb.Booster, lgb.LGBMModel)):
        raise InvalidParameterValue(
            f"lgb_model must be a lightgbm.Booster or LGBMModel, not {type(lgb_model).__name__}."
        )
    if serialization_format not in SERIALIZATION_FORMATS:
        raise InvalidParameterValue(
            f"Unknown serialization_format {serialization_format!r}: use one of {', '.join(SERIALIZATION_FORMATS)}."
        )
    booster = isinstance(lgb_model, lgb.Booster)
    trusted = None
    with build_directory(path) as build:
        modules = {"lightgbm"}
        if booster:
            file_name = "model.lgb"
            lgb_model.save_model(str(build / file_name))
        elif serialization_format == "skops":
            from mltrack.models.sklearn import skops_io

            file_name = "model.skops"
            trusted = sorted(set(_SKOPS_TRUSTED) | set(skops_trusted_types or []))
            skops_io().dump(lgb_model, build / file_name)
            modules |= {"skops", "sklearn"}
        else:
            file_name = "model.pkl"
            pickling.dump(lgb_model, build / file_name, serialization_format)
            modules |= modules_in_pickle(build / file_name)
            if serialization_format == "cloudpickle":
                modules.add("cloudpickle")
        model = mlflow_model or Model()
        model.signature = example_signature(
            build, model, input_example, signature, lambda rows: lgb_model.predict(rows)
        )
        model.metadata = metadata
        model.add_flavor(
            "python_function",
            loader_module="mlflow.lightgbm",
            data=file_name,
            env={"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
            python_version=platform.python_version(),
        )
        model.add_flavor(
            FLAVOR_NAME,
            lgb_version=lgb.__version__,
            data=file_name,
            model_class=f"{type(lgb_model).__module__}.{type(lgb_model).__name__}",
            code=None,
            serialization_format=serialization_format,
            skops_trusted_types=trusted,
        )
        write_requirements(build, modules, pip_requirements, extra_pip_requirements)
        model.save(build)
    return model


def log_model(
    lgb_model: Any,
    artifact_path: str | None = None,
    conda_env: Any = None,
    code_paths: list[str] | None = None,
    registered_model_name: str | None = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    await_registration_for: int | None = None,
    pip_requirements: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    name: str | None = None,
    params: dict[str, Any] | None = None,
    tags: dict[str, Any] | None = None,
    model_type: str | None = None,
    step: int = 0,
    model_id: str | None = None,
    serialization_format: str = "cloudpickle",
    skops_trusted_types: list[str] | None = None,
    **_: Any,
) -> ModelInfo:
    """Log a LightGBM model to the active run (``name`` as MLflow 3, ``artifact_path`` as MLflow 2)."""
    from mltrack.models.logging import log_model_directory

    def write(path: Path, model: Model) -> Model:
        return save_model(
            lgb_model,
            path,
            mlflow_model=model,
            signature=signature,
            input_example=input_example,
            pip_requirements=pip_requirements,
            extra_pip_requirements=extra_pip_requirements,
            metadata=metadata,
            serialization_format=serialization_format,
            skops_trusted_types=skops_trusted_types,
        )

    return log_model_directory(
        write,
        name=name,
        artifact_path=artifact_path,
        registered_model_name=registered_model_name,
        params=params,
        tags=tags,
        model_type=model_type,
        step=step,
    )


def _load(directory: Path, model: Model) -> Any:
    from mltrack.models import pickling
    from mltrack.models.flavor import flavor_file

    conf = model.flavors.get(FLAVOR_NAME) or model.flavors.get("python_function") or {}
    path = flavor_file(directory, conf, "data")
    if (conf.get("model_class") or "lightgbm.basic.Booster") == "lightgbm.basic.Booster":
        import lightgbm as lgb

        return lgb.Booster(model_file=str(path))
    if conf.get("serialization_format") == "skops":
        from mltrack.models.sklearn import skops_io

        return skops_io().load(path, trusted=conf.get("skops_trusted_types"))
    return pickling.load(path)


class _LightGBMWrapper:
    def __init__(self, lgb_model: Any) -> None:
        self.raw_model = lgb_model

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        return self.raw_model.predict(data)


def load_pyfunc(directory: Path, model: Model) -> _LightGBMWrapper:
    return _LightGBMWrapper(_load(directory, model))


def load_model(model_uri: str, dst_path: str | None = None) -> Any:
    """The LightGBM model itself: a Booster or the saved scikit-learn-API class (files checked first)."""
    from mltrack.models.flavor import open_flavor

    directory, model = open_flavor(model_uri, FLAVOR_NAME)
    return _load(directory, model)


def autolog(*args: Any, **kwargs: Any) -> None:
    """Log params, per-iteration metrics and the model of every ``lightgbm.train`` (MLflow's autolog)."""
    from mltrack.models.autolog_boosting import autolog_lightgbm

    autolog_lightgbm(*args, **kwargs)
