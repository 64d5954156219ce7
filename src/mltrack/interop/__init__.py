"""Moving in and out of MLflow: ``mltrack import mlflow`` and ``mltrack export mlflow``.

Both sides of a move are read and written through MLflow's own client
(``MlflowClient`` with the store's URI: an ``mlruns`` directory, a
``sqlite:///`` database or an ``http://`` server), so whatever MLflow can open
can be moved. MLflow is an optional dependency (the ``mlflow`` extra): without
it the commands say how to install it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from mltrack.exceptions import InvalidParameterValue, InvalidState

__all__ = ["Progress", "mlflow_client", "mlflow_uri", "paged", "store_uri"]

Progress = Callable[[int, int], None]
"""``progress(done, total)``: called as runs are moved (a front end draws the bar)."""

INSTALL_HINT = "MLflow is not installed: pip install 'mltrack[mlflow]'"


def store_uri(location: str, *, must_exist: bool) -> str:
    """MLflow's tracking URI for ``location``: a URI as given, a directory as a ``file://`` URI."""
    if "://" in location:
        if location.startswith("sqlite:///") and must_exist:
            database = Path(location[len("sqlite:///") :])
            if not database.is_file():
                raise InvalidParameterValue(f"No MLflow database at {database}.")
        return location
    directory = Path(location).expanduser().resolve()
    if must_exist and not directory.is_dir():
        raise InvalidParameterValue(
            f"No MLflow store at {location}: give an mlruns directory, a sqlite:/// URI or an "
            "http:// server."
        )
    return directory.as_uri()


def mlflow_client(uri: str) -> Any:
    """``mlflow.MlflowClient`` for a tracking and registry URI, or a one-line install hint."""
    # MLflow draws its own download bars; the front end draws one for the whole move.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if uri.startswith("file:"):
        # MLflow 3.17 refuses its file store unless asked; naming an mlruns directory asks.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    try:
        from mlflow import MlflowClient
    except ImportError as error:
        raise InvalidState(INSTALL_HINT) from error
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


@contextlib.contextmanager
def mlflow_uri(uri: str) -> Iterator[None]:
    """MLflow's process-wide tracking URI set to ``uri`` meanwhile (its registry looks up a
    ``models:/m-…`` source there, not in the client's own store); MLflow's errors become
    mltrack's, so the command line says them in one line."""
    import mlflow
    from mlflow.exceptions import MlflowException

    before = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    try:
        yield
    except MlflowException as error:
        first = str(error.message).strip().splitlines()[0] if str(error.message) else ""
        raise InvalidState(f"MLflow at {uri} refused: {first}") from error
    finally:
        # None unsets the URI (MLflow's own reset), and MLFLOW_TRACKING_URI with it: put it back.
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
        if before is not None:
            os.environ["MLFLOW_TRACKING_URI"] = before


def paged(search: Callable[..., Any], **arguments: Any) -> Iterator[Any]:
    """Every item of one of MLflow's paged searches, page after page."""
    token = None
    while True:
        page = search(**arguments, page_token=token)
        yield from page
        token = page.token
        if not token:
            return
