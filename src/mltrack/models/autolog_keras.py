"""``mltrack.keras.autolog()``: every ``keras.Model.fit`` logs params, per-epoch metrics, the model.

As MLflow's Keras autolog: ``fit`` gets one more callback, which logs the fit's
parameters (epochs, batch size, optimizer and its config) when training begins
and every metric Keras reports (``loss``, ``accuracy``, ``val_loss``…) at the
end of each epoch, with step = epoch. After training the model is logged as
``model``, with a signature inferred from the first rows of the training data
when it is an array or DataFrame.
"""

from __future__ import annotations

from typing import Any

from mltrack.models.autologging import Patches, log_quietly, training_run
from mltrack.tracking import fluent

__all__ = ["autolog"]

_patches = Patches()
_config: dict[str, Any] = {}


def _callback_class() -> type:
    import keras

    class MltrackCallback(keras.callbacks.Callback):
        """Logs per-epoch metrics to the active run (usable on its own, as MLflow's callback)."""

        def __init__(self, log_every_epoch: bool = True) -> None:
            super().__init__()
            self.log_every_epoch = log_every_epoch

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:

            if self.log_every_epoch and logs:
                fluent.log_metrics({k: float(v) for k, v in logs.items()}, step=epoch)

    return MltrackCallback


def _fit_params(model: Any, arguments: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {
        "epochs": arguments.get("epochs", 1),
        "batch_size": arguments.get("batch_size"),
        "validation_split": arguments.get("validation_split"),
        "shuffle": arguments.get("shuffle"),
    }
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None:
        params["optimizer_name"] = type(optimizer).__name__
        for key, value in (optimizer.get_config() or {}).items():
            if isinstance(value, (int, float, str, bool)) and key != "name":
                params[f"opt_{key}"] = value
    return {k: v for k, v in params.items() if v is not None}


def _log_model(model: Any, x: Any) -> None:
    import numpy as np

    from mltrack.models import keras as flavor
    from mltrack.models.signature import infer_signature

    if not _config.get("log_models", True):
        return
    signature = None
    if _config.get("log_model_signatures", True) and isinstance(x, np.ndarray):
        rows = x[:5]
        signature = infer_signature(rows, np.asarray(model.predict(rows, verbose=0)))
    elif _config.get("log_model_signatures", True) and hasattr(x, "head"):
        rows = x.head(5)
        signature = infer_signature(rows, np.asarray(model.predict(rows.to_numpy(), verbose=0)))
    flavor.log_model(
        model,
        name="model",
        signature=signature,
        registered_model_name=_config.get("registered_model_name"),
    )


def _fit_wrapper(original: Any) -> Any:
    import inspect

    signature = inspect.signature(original)

    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not _config:
            return original(self, *args, **kwargs)
        with training_run("keras", _config.get("extra_tags")) as outer:
            if not outer:
                return original(self, *args, **kwargs)

            bound = signature.bind(self, *args, **kwargs)
            arguments = dict(bound.arguments)
            log_quietly("params", lambda: fluent.log_params(_fit_params(self, arguments)))
            callbacks = list(kwargs.get("callbacks") or [])
            callbacks.append(_callback_class()(_config.get("log_every_epoch", True)))
            kwargs["callbacks"] = callbacks
            history = original(self, *args, **kwargs)
            log_quietly("the model", lambda: _log_model(self, arguments.get("x")))
            return history

    return fit


def autolog(
    log_every_epoch: bool = True,
    log_every_n_steps: int | None = None,
    log_models: bool = True,
    log_model_signatures: bool = True,
    save_exported_model: bool = False,
    log_datasets: bool = True,
    log_input_examples: bool = False,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    registered_model_name: str | None = None,
    save_model_kwargs: dict[str, Any] | None = None,
    extra_tags: dict[str, str] | None = None,
) -> None:
    """Turn Keras autologging on (or off with ``disable=True``)."""
    if disable:
        _patches.undo()
        _config.clear()
        return
    _config.update(
        log_every_epoch=log_every_epoch,
        log_models=log_models,
        log_model_signatures=log_model_signatures,
        registered_model_name=registered_model_name,
        extra_tags=dict(extra_tags or {}),
    )
    if _patches:
        return
    import keras

    _patches.wrap(keras.Model, "fit", _fit_wrapper)
