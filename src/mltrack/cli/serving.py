"""``mltrack models serve`` and ``mltrack models predict``: the scoring server and batch scoring."""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import click

from mltrack.cli.context import AppContext, fd_option, pass_app
from mltrack.cli.output import progress

_SIZE = re.compile(r"^\s*(\d+)\s*(b|kb|kib|k|mb|mib|m|gb|gib|g)?\s*$", re.I)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def _byte_size(ctx: click.Context, param: click.Parameter, value: str) -> int:
    found = _SIZE.match(value)
    if found is None:
        raise click.BadParameter(f"{value!r}: use a number of bytes, e.g. 50MB, 512KB or 1000000.")
    unit = (found[2] or "").lower()[:1]
    return int(found[1]) * _UNITS[unit]


def _use_repository(app: AppContext) -> None:
    """Model URIs (runs:/, models:/) resolve in the repository given with -C, if any."""
    if app.repo_path:
        from mltrack.tracking.fluent import set_tracking_uri

        set_tracking_uri(str(app.repository().root))


@click.command("serve", context_settings={"help_option_names": ["--help"]})
@click.option(
    "-m",
    "--model-uri",
    required=True,
    help="runs:/<run>/<path>, models:/<name>/<version|stage|latest>, models:/<name>@<alias>, "
    "models:/m-<id> or a directory.",
)
@click.option(
    "-p", "--port", type=click.IntRange(0, 65535), default=5000, show_default=True,
    help="Port to listen on (0 picks a free one).",
)  # fmt: skip
@click.option("-h", "--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "-w", "--workers", type=click.IntRange(min=1), default=1, show_default=True,
    help="Worker processes, each with its own copy of the model.",
)  # fmt: skip
@click.option(
    "--max-body-size", default="50MB", show_default=True, callback=_byte_size,
    help="Largest request body accepted (larger ones get 413).",
)  # fmt: skip
@click.option(
    "--reload-interval",
    type=click.FloatRange(min=0.1),
    default=None,
    metavar="SECONDS",
    help="For a stage, alias or 'latest' URI: check every SECONDS whether a promotion moved it, "
    "and switch to the new version without a restart.",
)
@click.option("--no-access-log", is_flag=True, help="Do not log every request.")
@click.option(
    "--allowed-hosts",
    metavar="HOSTS",
    default=None,
    help="Comma-separated Host headers to serve, wildcards allowed ('*' for any). Default: "
    "localhost, private networks and the bound address; others get 403.",
)
@click.option(
    "--cors-allowed-origins",
    metavar="ORIGINS",
    default=None,
    help="Comma-separated origins whose pages may POST here ('*' for any). Default: localhost.",
)
@fd_option
@click.option(
    "--env-manager",
    type=click.Choice(["local"]),
    default="local",
    hidden=True,
    help="Accepted for MLflow compatibility: mltrack serves in the current environment.",
)
@pass_app
def serve(
    app: AppContext,
    model_uri: str,
    port: int,
    host: str,
    workers: int,
    max_body_size: int,
    reload_interval: float | None,
    no_access_log: bool,
    allowed_hosts: str | None,
    cors_allowed_origins: str | None,
    fd: int | None,
    env_manager: str,
) -> None:
    """Serve a model over HTTP: POST /invocations, GET /ping, /health, /version.

    Accepts MLflow's request bodies (dataframe_split, dataframe_records,
    instances, inputs, params; the legacy {"columns", "data"} form; CSV;
    Parquet) and answers {"predictions": [...]}. Stop it with Ctrl-C.
    """
    from mltrack.http_guard import parse_list
    from mltrack.serving.server import ServeOptions
    from mltrack.serving.server import serve as run

    _use_repository(app)
    options = ServeOptions(
        host=host,
        port=port,
        workers=workers,
        max_body_size=max_body_size,
        reload_interval=reload_interval,
        access_log=not no_access_log,
        allowed_hosts=parse_list(allowed_hosts),
        cors_allowed_origins=parse_list(cors_allowed_origins),
        fd=fd,
    )
    run(model_uri, options)


def _param(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise click.BadParameter(f"{text!r}: use KEY=VALUE, e.g. predict_method=predict_proba.")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


@click.command("predict")
@click.option("-m", "--model-uri", required=True, help="Any model URI (as for serve).")
@click.option(
    "-i",
    "--input-path",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="A .csv, .json, .jsonl or .parquet file.",
)
@click.option(
    "-o",
    "--output-path",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help='.csv, .json, .jsonl or .parquet (default: {"predictions": [...]} on stdout).',
)
@click.option(
    "-t",
    "--content-type",
    type=click.Choice(["csv", "json", "jsonl", "parquet"]),
    default=None,
    help="Input format, when the extension does not say.",
)
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=10_000, show_default=True,
    help="Rows read, predicted and written at a time (bounds memory for large files).",
)  # fmt: skip
@click.option(
    "-P",
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="Inference param, e.g. -P predict_method=predict_proba (repeatable).",
)
@click.option(
    "--engine",
    type=click.Choice(["local", "spark"]),
    default="local",
    show_default=True,
    help="'spark' scores with PySpark (pip install 'mltrack[spark]') and writes a Spark output "
    "directory at --output-path.",
)
@click.option(
    "--spark-master", default="local[*]", show_default=True,
    help="Spark master URL for --engine spark (e.g. yarn, spark://host:7077).",
)  # fmt: skip
@pass_app
def predict(
    app: AppContext,
    model_uri: str,
    input_path: str,
    output_path: str | None,
    content_type: str | None,
    batch_size: int,
    params: tuple[str, ...],
    engine: str,
    spark_master: str,
) -> None:
    """Score a file in batches with a model (streams large CSV, Parquet and JSON lines files)."""
    from mltrack.serving.batch import predict_file

    _use_repository(app)
    if engine == "spark":
        if output_path is None:
            raise click.UsageError("--engine spark writes its output: pass --output-path.")
        from mltrack.models.spark import predict_with_spark

        rows = predict_with_spark(
            model_uri,
            input_path,
            output_path,
            input_format=content_type,
            master=spark_master,
            params=dict(_param(p) for p in params) or None,
        )
        click.echo(f"Wrote {rows} predictions to {output_path} (Spark output).", err=True)
        return
    target: Any = output_path if output_path is not None else sys.stdout
    with progress("Predicting", delay=0.5) as callback:
        result = predict_file(
            model_uri,
            input_path,
            target,
            batch_size=batch_size,
            input_format=content_type,
            params=dict(_param(p) for p in params) or None,
            progress=callback,
        )
    if output_path is not None:
        click.echo(
            f"Wrote {result.rows} predictions ({result.batches} batches) to {output_path}.",
            err=True,
        )


MODELS_COMMANDS = [serve, predict]
