"""The scoring server and batch prediction (``mltrack models serve`` / ``models predict``).

- :mod:`~mltrack.serving.payloads`: every request body MLflow's server reads, as model input;
- :mod:`~mltrack.serving.casting`: request columns cast to the signature, never lossily;
- :mod:`~mltrack.serving.responses`: model output in MLflow's ``{"predictions": ...}`` shapes;
- :mod:`~mltrack.serving.served`: the served model, and following a moved stage or alias;
- :mod:`~mltrack.serving.app`: the ASGI app (the only module that imports the web framework);
- :mod:`~mltrack.serving.server`: running it with uvicorn, one or many workers;
- :mod:`~mltrack.serving.batch`: scoring CSV, JSON and Parquet files in batches.

Nothing is imported here, so ``mltrack models predict`` never loads the web stack.
"""
