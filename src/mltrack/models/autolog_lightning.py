"""``mltrack.pytorch.autolog()``: PyTorch Lightning's ``Trainer.fit`` logs params, metrics, the model.

As MLflow's ``mlflow.pytorch.autolog`` (which covers Lightning only; a plain
training loop is logged by hand): ``fit`` gets one more callback, which logs
``epochs`` and the optimizer's name and learning rate when training starts and
every metric in ``trainer.callback_metrics`` (what the module ``self.log``s per
epoch, validation metrics included) at the end of each training epoch, with
step = epoch. The trained module is logged as ``model`` afterwards. Works with
``lightning.pytorch`` and with the older ``pytorch_lightning`` package.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Any

from mltrack.models.autologging import Patches, log_quietly, training_run
from mltrack.tracking import fluent

__all__ = ["autolog"]

_PACKAGES = ("lightning.pytorch", "pytorch_lightning")
_patches = Patches()
_config: dict[str, Any] = {}


def _callback(package: Any) -> Any:
    class MltrackLightningCallback(package.Callback):
        def on_train_start(self, trainer: Any, pl_module: Any) -> None:

            params: dict[str, Any] = {"epochs": trainer.max_epochs}
            if trainer.optimizers:
                optimizer = trainer.optimizers[0]
                params["optimizer_name"] = type(optimizer).__name__
                for key in ("lr", "weight_decay", "momentum"):
                    value = optimizer.param_groups[0].get(key)
                    if isinstance(value, (int, float)):
                        params[key] = value
            log_quietly("params", lambda: fluent.log_params(params))

        def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:

            if not _config.get("log_every_epoch", True):
                return
            metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
            if metrics:
                fluent.log_metrics(metrics, step=trainer.current_epoch)

    return MltrackLightningCallback()


def _fit_wrapper(package: Any) -> Any:
    def make(original: Any) -> Any:
        def fit(self: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
            if not _config:
                return original(self, model, *args, **kwargs)
            with training_run("pytorch", _config.get("extra_tags")) as outer:
                if not outer:
                    return original(self, model, *args, **kwargs)
                callback = _callback(package)
                self.callbacks.append(callback)
                try:
                    result = original(self, model, *args, **kwargs)
                finally:
                    self.callbacks.remove(callback)
                if _config.get("log_models", True):
                    from mltrack.models import pytorch as flavor

                    log_quietly(
                        "the model",
                        lambda: flavor.log_model(
                            model,
                            name="model",
                            registered_model_name=_config.get("registered_model_name"),
                        ),
                    )
                return result

        return fit

    return make


def autolog(
    log_every_n_epoch: int = 1,
    log_every_n_step: int | None = None,
    log_models: bool = True,
    log_datasets: bool = True,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    registered_model_name: str | None = None,
    extra_tags: dict[str, str] | None = None,
    checkpoint: bool = False,
    log_model_signatures: bool = True,
) -> None:
    """Turn PyTorch Lightning autologging on (or off with ``disable=True``)."""
    if disable:
        _patches.undo()
        _config.clear()
        return
    _config.update(
        log_every_epoch=log_every_n_epoch > 0,
        log_models=log_models,
        registered_model_name=registered_model_name,
        extra_tags=dict(extra_tags or {}),
    )
    if _patches:
        return
    imported = [name for name in _PACKAGES if name in sys.modules]
    if not imported:  # import the first installed one; importing both would double the cost
        imported = [
            name for name in _PACKAGES if importlib.util.find_spec(name.split(".")[0]) is not None
        ][:1]
    if not imported:
        from mltrack.exceptions import InvalidParameterValue

        raise InvalidParameterValue(
            "mltrack.pytorch.autolog() logs PyTorch Lightning training; install lightning "
            "(pip install lightning). A plain PyTorch loop is logged with log_metric/log_model."
        )
    for name in imported:
        package = importlib.import_module(name)
        _patches.wrap(package.Trainer, "fit", _fit_wrapper(package))
