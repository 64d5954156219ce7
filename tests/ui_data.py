"""Build the UI tests' repository: ``python tests/ui_data.py REPO [RUNS]`` (run inside REPO).

Three runs in experiment ``sweep`` with histories, artifacts of every preview kind
and a dataset; a registered model with two versions (v1 in Production); and HTML
in a run name, a param, a tag, a metric key and an artifact, which the UI must show
as text. With RUNS, experiment ``big`` also gets that many small runs (written
without commits, for the timing test).
"""

from __future__ import annotations

import base64
import sys
import zlib

XSS = "<script>window.__xss=1</script><img src=x onerror=window.__xss=1>"


def png(width: int = 16, height: int = 16) -> bytes:
    """A small red-and-blue PNG, built by hand (no imaging library needed)."""
    import struct

    rows = b"".join(
        b"\x00" + b"".join(b"\xff\x00\x00" if (x + y) % 8 < 4 else b"\x00\x00\xff" for x in range(width))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


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
            mltrack.log_params({"lr": lr, "model": "logreg", "note": XSS if number == 2 else "plain"})
            mltrack.set_tags({"team": "vision", "comment": XSS})
            for step in range(200):
                loss = (1.0 / (1 + step * lr)) + 0.02 * np.sin(step / 5 + number)
                mltrack.log_metric("loss", float(loss), step=step)
            mltrack.log_metric("accuracy", 0.8 + 0.05 * number)
            mltrack.log_input(mltrack.data.from_pandas(frame.assign(y=target), name="toy"), context="training")
            mltrack.log_text(f"notes for {name}\n{XSS}\n", "notes.txt")
            mltrack.log_dict({"lr": lr, "html": XSS}, "config.json")
            mltrack.log_dict({"lr": lr, "layers": [1, 2]}, "config.yaml")
            mltrack.log_text("epoch,loss\n1,0.5\n2,0.25\n3," + XSS + "\n", "history.csv")
            mltrack.log_text(base64.b64encode(png()).decode(), "image.b64")
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
    """``count`` small runs in experiment ``big``, committed once at the end."""
    import random

    import mltrack

    client = mltrack.MltrackClient()
    experiment = client.create_experiment("big")
    rng = random.Random(0)
    from mltrack.entities import Metric, Param

    for i in range(count):
        run = client.create_run(experiment, run_name=f"run-{i:05d}")
        run_id = run.info.run_id
        client.log_batch(
            run_id,
            metrics=[Metric(f"m{j}", rng.random(), 0, 0) for j in range(5)],
            params=[Param(f"p{j}", f"v{(i + j) % 7}") for j in range(5)],
        )
        client.set_terminated(run_id)


if __name__ == "__main__":
    print(demo())
    if len(sys.argv) > 1:
        many(int(sys.argv[1]))
