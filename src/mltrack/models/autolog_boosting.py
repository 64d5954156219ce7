"""``mltrack.xgboost.autolog()`` and ``mltrack.lightgbm.autolog()``.

As MLflow's: every ``xgboost.train`` / ``lightgbm.train`` and every ``fit`` of
their scikit-learn-API models logs the training params, the evaluation metrics
of every boosting round (``<dataset>-<metric>`` at step = round, e.g.
``validation_0-mlogloss``), and the model as ``model`` (a Booster from
``train``, the estimator from ``fit``, with a signature when the training data
is a DataFrame or array).
"""

from __future__ import annotations

import inspect
from typing import Any

from mltrack.models.autologging import Patches, log_quietly, training_run
from mltrack.tracking import fluent

__all__ = ["autolog_lightgbm", "autolog_xgboost"]

_MAX_PARAM = 6000
_patches: dict[str, Patches] = {"xgboost": Patches(), "lightgbm": Patches()}
_config: dict[str, dict[str, Any]] = {"xgboost": {}, "lightgbm": {}}


def _params(values: dict[str, Any]) -> dict[str, str]:
    out = {}
    for key, value in values.items():
        if value is None or callable(value) or key in ("evals", "valid_sets", "callbacks"):
            continue
        text = str(value)
        out[str(key)] = text if len(text) <= _MAX_PARAM else text[: _MAX_PARAM - 3] + "..."
    return out


def _log_history(history: dict[str, dict[str, Any]]) -> None:

    for data_name, metrics in (history or {}).items():
        for metric_name, values in metrics.items():
            key = f"{data_name}-{metric_name}".replace("@", "_at_")
            for step, value in enumerate(values):
                fluent.log_metric(key, float(value), step=step)


def _log_params(values: dict[str, Any]) -> None:

    fluent.log_params(_params(values))


def _log_model(flavor: str, model: Any, X: Any) -> None:
    import importlib

    config = _config[flavor]
    if not config.get("log_models", True):
        return
    from mltrack.models.signature import infer_signature

    signature = None
    if X is not None and config.get("log_model_signatures", True) and hasattr(X, "__getitem__"):
        rows = X.head(5) if hasattr(X, "head") else X[:5]
        signature = infer_signature(rows, model.predict(rows))
    importlib.import_module(f"mltrack.models.{flavor}").log_model(
        model,
        name="model",
        signature=signature,
        registered_model_name=config.get("registered_model_name"),
    )


def _train_wrapper(flavor: str, original: Any, history_key: str) -> Any:
    signature = inspect.signature(original)

    def train(*args: Any, **kwargs: Any) -> Any:
        config = _config[flavor]
        if not config:
            return original(*args, **kwargs)
        with training_run(flavor, config.get("extra_tags")) as outer:
            if not outer:
                return original(*args, **kwargs)
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            arguments = bound.arguments
            history: dict[str, Any] = {}
            if flavor == "xgboost":
                if arguments.get(history_key) is None:
                    arguments[history_key] = history
                history = arguments[history_key]
            else:
                import lightgbm as lgb

                arguments["callbacks"] = [
                    *(arguments.get("callbacks") or []),
                    lgb.record_evaluation(history),
                ]
            log_quietly(
                "params",
                lambda: _log_params(
                    {
                        **dict(arguments.get("params") or {}),
                        "num_boost_round": arguments.get("num_boost_round"),
                        **{
                            k: arguments.get(k)
                            for k in ("early_stopping_rounds", "maximize", "valid_names")
                            if k in arguments
                        },
                    }
                ),
            )
            booster = original(*bound.args, **bound.kwargs)
            log_quietly("metrics", lambda: _log_history(history))
            log_quietly("the model", lambda: _log_model(flavor, booster, None))
            return booster

    return train


def _fit_wrapper(flavor: str, original: Any) -> Any:
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        config = _config[flavor]
        if not config:
            return original(self, *args, **kwargs)
        with training_run(flavor, config.get("extra_tags")) as outer:
            if not outer:
                return original(self, *args, **kwargs)
            log_quietly("params", lambda: _log_params(self.get_params()))
            result = original(self, *args, **kwargs)
            history = getattr(self, "evals_result_", None)
            log_quietly("metrics", lambda: _log_history(history or {}))
            X = args[0] if args else kwargs.get("X")
            log_quietly("the model", lambda: _log_model(flavor, self, X))
            return result

    return fit


def _configure(flavor: str, disable: bool, options: dict[str, Any]) -> bool:
    """Store the options; True when the functions still need patching."""
    if disable:
        _patches[flavor].undo()
        _config[flavor].clear()
        return False
    _config[flavor].update(options)
    return not _patches[flavor]


def _sklearn_api_classes(module: Any, base: type) -> list[type]:
    return [
        value
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, base) and "fit" in value.__dict__
    ]


def autolog_xgboost(
    importance_types: list[str] | None = None,
    log_input_examples: bool = False,
    log_model_signatures: bool = True,
    log_models: bool = True,
    log_datasets: bool = True,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    registered_model_name: str | None = None,
    model_format: str = "ubj",
    extra_tags: dict[str, str] | None = None,
) -> None:
    """Turn XGBoost autologging on (or off with ``disable=True``)."""
    options = {
        "log_models": log_models,
        "log_model_signatures": log_model_signatures,
        "registered_model_name": registered_model_name,
        "extra_tags": dict(extra_tags or {}),
    }
    if not _configure("xgboost", disable, options):
        return
    import xgboost
    import xgboost.sklearn
    import xgboost.training

    patches = _patches["xgboost"]
    original = xgboost.training.train
    wrapped = _train_wrapper("xgboost", original, "evals_result")
    for module in (xgboost, xgboost.training, xgboost.sklearn):
        if getattr(module, "train", None) is original:
            patches.wrap(module, "train", lambda _: wrapped)
    for cls in _sklearn_api_classes(xgboost.sklearn, xgboost.sklearn.XGBModel):
        patches.wrap(cls, "fit", lambda fit: _fit_wrapper("xgboost", fit))


def autolog_lightgbm(
    log_input_examples: bool = False,
    log_model_signatures: bool = True,
    log_models: bool = True,
    log_datasets: bool = True,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    registered_model_name: str | None = None,
    extra_tags: dict[str, str] | None = None,
) -> None:
    """Turn LightGBM autologging on (or off with ``disable=True``)."""
    options = {
        "log_models": log_models,
        "log_model_signatures": log_model_signatures,
        "registered_model_name": registered_model_name,
        "extra_tags": dict(extra_tags or {}),
    }
    if not _configure("lightgbm", disable, options):
        return
    import lightgbm
    import lightgbm.engine
    import lightgbm.sklearn

    patches = _patches["lightgbm"]
    original = lightgbm.engine.train
    wrapped = _train_wrapper("lightgbm", original, "")
    for module in (lightgbm, lightgbm.engine, lightgbm.sklearn):
        if getattr(module, "train", None) is original:
            patches.wrap(module, "train", lambda _: wrapped)
    for cls in _sklearn_api_classes(lightgbm.sklearn, lightgbm.sklearn.LGBMModel):
        patches.wrap(cls, "fit", lambda fit: _fit_wrapper("lightgbm", fit))
