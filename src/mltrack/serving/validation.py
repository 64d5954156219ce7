"""``validate_serving_input``: a scoring request's body, read as ``mltrack models serve`` reads
it, predicted by the model, before the model is deployed (MLflow's function of that name)."""

from __future__ import annotations

import json
from typing import Any

from mltrack.exceptions import InvalidParameterValue
from mltrack.models.pyfunc import load_model
from mltrack.serving.payloads import from_json, load_json

__all__ = ["validate_serving_input"]


def validate_serving_input(model_uri: str, serving_input: str | bytes | dict[str, Any]) -> Any:
    """The model's prediction for ``serving_input`` (a JSON string or the parsed object).

    Every problem the server would answer with a 400 is raised here as the same
    error (:class:`~mltrack.exceptions.BadRequest` or a schema error), with the
    server's message.
    """
    if isinstance(serving_input, str):
        serving_input = serving_input.encode("utf-8")
    if isinstance(serving_input, bytes):
        document = load_json(serving_input)
    elif isinstance(serving_input, dict):
        document = json.loads(json.dumps(serving_input))  # exactly what a client would send
    else:
        raise InvalidParameterValue(
            "serving_input must be a JSON string or a dict (a scoring request body), not "
            f"{type(serving_input).__name__}."
        )
    model = load_model(model_uri)
    signature = model.metadata.signature
    parsed = from_json(document, signature.inputs if signature is not None else None)
    return model.predict(parsed.data, parsed.params)
