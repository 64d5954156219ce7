"""The UI tests' repositories, built inside the current directory's repository.

``python ui_data.py demo`` makes the small one; ``python ui_data.py big RUNS POINTS``
the timing one.

Three runs in experiment ``sweep`` with histories, artifacts of every preview kind
and a dataset; a registered model with two versions (v1 in Production); and HTML
in a run name, a param, a tag and the artifacts, which the UI must show
as text. The timing one has RUNS small runs in experiment ``big`` and three runs
of POINTS points each in experiment ``long``.
"""

from __future__ import annotations

import sys
import zlib
from typing import Any

XSS = "<script>window.__xss=1</script><img src=x onerror=window.__xss=1>"


def child_env(home: Any = None) -> dict[str, str]:
    """The environment for a child process of the UI tests: mltrack's sources importable, the
    given HOME, and no tracking URI or server setting another test left behind (MLflow's
    ``set_tracking_uri`` writes ``MLFLOW_TRACKING_URI`` into ``os.environ``)."""
    from support import child_env as isolated_env

    return {
        key: value
        for key, value in isolated_env(home).items()
        if not key.startswith(("MLFLOW_", "MLTRACK_"))
    }


def png(width: int = 16, height: int = 16) -> bytes:
    """A small red-and-blue PNG, built by hand (no imaging library needed)."""
    import struct

    rows = b"".join(
        b"\x00"
        + b"".join(b"\xff\x00\x00" if (x + y) % 8 < 4 else b"\x00\x00\xff" for x in range(width))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def demo() -> dict[str, str]:
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import mltrack

    mltrack.set_experiment("sweep")
    ids = {}
    frame = pd.DataFrame({"a": np.linspace(0, 1, 20), "b": np.linspace(1, 0, 20)})
    target = (frame["a"] > 0.5).astype(int)
    for number, (name, lr) in enumerate((("baseline", 0.1), ("wide", 0.03), (XSS, 0.01))):
        with mltrack.start_run(run_name=name) as run:
            mltrack.log_params(
                {"lr": lr, "model": "logreg", "note": XSS if number == 2 else "plain"}
            )
            mltrack.set_tags({"team": "vision", "comment": XSS})
            for step in range(200):
                loss = (1.0 / (1 + step * lr)) + 0.02 * np.sin(step / 5 + number)
                mltrack.log_metric("loss", float(loss), step=step)
            mltrack.log_metric("accuracy", 0.8 + 0.05 * number)
            mltrack.log_input(
                mltrack.data.from_pandas(frame.assign(y=target), name="toy"), context="training"
            )
            mltrack.log_text(f"notes for {name}\n{XSS}\n", "notes.txt")
            mltrack.log_dict({"lr": lr, "html": XSS}, "config.json")
            mltrack.log_dict({"lr": lr, "layers": [1, 2]}, "config.yaml")
            mltrack.log_text("epoch,loss\n1,0.5\n2,0.25\n3," + XSS + "\n", "history.csv")
            from pathlib import Path

            image = Path("chart.png")
            image.write_bytes(png())
            mltrack.log_artifact(str(image), "plots")
            image.unlink()
            if number < 2:
                model = LogisticRegression().fit(frame, target)
                mltrack.sklearn.log_model(model, name="model", input_example=frame.head(2))
            ids[name] = run.info.run_id
    client = mltrack.MltrackClient()
    client.create_registered_model("classifier")
    for name in ("baseline", "wide"):
        client.create_model_version("classifier", f"runs:/{ids[name]}/model", ids[name])
    client.transition_model_version_stage("classifier", 1, "Production")
    return ids


def many(count: int) -> None:
    """``count`` small finished runs in experiment ``big``, written through the run store's
    document writer and left uncommitted (the runs table reads the working tree): seconds,
    not the minutes of a commit per run."""
    import random
    import uuid

    from mltrack.store.records import RunRecord
    from mltrack.tracking.context import open_repository

    repository = open_repository(None)
    experiment = repository.create_experiment("big")
    runs = repository.runs
    rng = random.Random(0)
    start = 1_700_000_000_000
    for i in range(count):
        run_id = uuid.UUID(int=rng.getrandbits(128)).hex
        record = RunRecord(
            run_id=run_id,
            experiment_id=experiment.experiment_id,
            run_name=f"run-{i:05d}",
            status="FINISHED",
            start_time=start + i * 1000,
            end_time=start + i * 1000 + 500,
            lifecycle_stage="active",
            user_id="bench",
            params={f"p{j}": f"v{(i + j) % 7}" for j in range(5)},
            tags={"mlflow.runName": f"run-{i:05d}"},
        )
        for j in range(5):
            record.offer_metric(f"m{j}", rng.random(), 0, start)
        directory = runs.run_dir(experiment.experiment_id, run_id)
        directory.mkdir(parents=True)
        runs.write_document(directory, record.to_dict(), durable=False)


def long_histories(points: int, runs: int = 3) -> list[str]:
    """``runs`` runs in experiment ``long``, each with ``points`` points of ``loss``."""
    import math

    import mltrack
    from mltrack.entities import Metric

    client = mltrack.MltrackClient()
    experiment = client.create_experiment("long")
    ids = []
    for number in range(runs):
        run_id = client.create_run(experiment, run_name=f"long-{number}").info.run_id
        for first in range(0, points, 1000):
            batch = [
                Metric(
                    "loss",
                    1 / (1 + step / 1000) + 0.05 * math.sin(step / 50 + number),
                    1_700_000_000_000 + step,
                    step,
                )
                for step in range(first, min(points, first + 1000))
            ]
            client.log_batch(run_id, metrics=batch)
        client.set_terminated(run_id)
        ids.append(run_id)
    return ids


if __name__ == "__main__":
    import json

    if sys.argv[1:] == ["demo"]:
        print(json.dumps(demo()))
    else:
        many(int(sys.argv[2]))
        print(json.dumps(long_histories(int(sys.argv[3]))))
