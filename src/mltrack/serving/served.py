"""The model a scoring server serves, and how it follows a stage or alias that moves.

A server started with ``models:/iris@production`` (or ``models:/iris/Production``
or ``models:/iris/latest``) loads the version the reference names at start-up.
A later promotion is a commit that moves the reference; by default the server
keeps serving what it loaded, so a restart picks up the new version. With a
reload interval, a background thread re-resolves the reference every N seconds
(a read of ``model.yaml`` and the version tags, no model load) and, when it
names another version, loads that version beside the old one and swaps the
reference in one assignment: requests in flight finish on the old model, new
ones get the new model, and nothing is ever served half-loaded. If the new
version fails to load, the old one keeps serving and the failure is logged.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from mltrack.exceptions import BadRequest, MltrackError
from mltrack.models.pyfunc import PyFuncModel, load_resolved
from mltrack.models.uri import ResolvedModel, resolve
from mltrack.serving.payloads import ModelInput, parse_body
from mltrack.serving.responses import predictions_json
from mltrack.uris import parse_models_uri

__all__ = ["Loaded", "Reloader", "ServedModel", "predict"]

logger = logging.getLogger("mltrack.serving")


def predict(model: PyFuncModel, model_input: ModelInput) -> Any:
    """``model.predict``; an error the model itself raises is the caller's bad input (400),
    as in MLflow's server, with the model's own message."""
    try:
        return model.predict(model_input.data, model_input.params)
    except MltrackError:
        raise
    except Exception as error:
        raise BadRequest(
            f"The model could not predict this input: {type(error).__name__}: {error}. "
            "Check that the input matches what the model was trained on."
        ) from error


@dataclass(frozen=True)
class Loaded:
    """One loaded version: the model and what it was resolved from."""

    model: PyFuncModel
    description: str
    loaded_at: float


class ServedModel:
    """The model behind ``/invocations``; ``refresh()`` follows a moved stage or alias."""

    def __init__(self, uri: str, loaded: Loaded) -> None:
        self.uri = uri
        self._loaded = loaded
        self._refresh_lock = threading.Lock()

    @classmethod
    def load(cls, uri: str) -> ServedModel:
        return cls(uri, _load(resolve(uri)))

    @property
    def loaded(self) -> Loaded:
        return self._loaded

    @property
    def follows_registry(self) -> bool:
        """True when the URI names a stage, alias or 'latest', which a promotion can move."""
        if not self.uri.startswith("models:/"):
            return False
        reference = parse_models_uri(self.uri)
        return reference.model_id is None and reference.version is None

    def refresh(self) -> bool:
        """Re-resolve the URI; load and swap in the version it names now. True if it changed."""
        with self._refresh_lock:
            resolved = resolve(self.uri)
            if resolved.directory == self._loaded.model.path:
                return False
            self._loaded = _load(resolved)
            return True

    def invoke(self, body: bytes, content_type: str | None) -> bytes:
        """One ``/invocations`` request: parse, check, predict, serialise."""
        model = self._loaded.model
        model_input = parse_body(body, content_type, model.metadata.signature)
        return predictions_json(predict(model, model_input))


def _load(resolved: ResolvedModel) -> Loaded:
    return Loaded(load_resolved(resolved), resolved.description, time.time())


class Reloader:
    """A daemon thread that calls ``served.refresh()`` every ``interval`` seconds."""

    def __init__(self, served: ServedModel, interval: float) -> None:
        self.served = served
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mltrack-model-reload", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                if self.served.refresh():
                    logger.info(
                        "%s now names %s: serving it.",
                        self.served.uri,
                        self.served.loaded.description,
                    )
            except Exception as error:  # the thread's boundary: keep serving the loaded model
                logger.warning(
                    "Could not reload %s (still serving %s): %s",
                    self.served.uri,
                    self.served.loaded.description,
                    error,
                )
