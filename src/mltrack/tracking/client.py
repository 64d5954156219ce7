"""``TrackingClient``: MlflowClient's experiment, run, metric, artifact and logged-model methods.

A client works on one repository: the one its tracking URI names, else the
current one when it is made (``mltrack.set_tracking_uri``, the environment, or
the git repository around the working directory), opened on first use. The
work is done by one part per noun — :class:`~mltrack.tracking.experiments.Experiments`,
:class:`~mltrack.tracking.runs.Runs`, :class:`~mltrack.tracking.run_logging.RunLogger`,
:class:`~mltrack.tracking.run_artifacts.RunArtifacts`,
:class:`~mltrack.tracking.logged_models.LoggedModels` — and the client gives
their methods MLflow's flat names. ``mltrack.MltrackClient`` (also
``mltrack.MlflowClient``) adds the registry (``mltrack.client``).
"""

from __future__ import annotations

import os
import threading
from typing import cast

from mltrack.forwarding import Forward, OnFirstUse
from mltrack.paging import PagedList
from mltrack.store.repository import Repository
from mltrack.tracking.context import current_tracking_uri, is_server_uri, open_repository
from mltrack.tracking.experiments import Experiments
from mltrack.tracking.logged_models import LoggedModels
from mltrack.tracking.run_artifacts import RunArtifacts
from mltrack.tracking.run_logging import RunLogger
from mltrack.tracking.runs import Runs

__all__ = ["PagedList", "TrackingClient"]


class TrackingClient:
    """Experiments, runs, metrics, artifacts and logged models by id (MlflowClient's names).

    An ``http(s)://`` tracking URI makes a
    :class:`~mltrack.tracking.remote.RemoteTrackingClient` instead, which talks to a
    tracking server over MLflow's REST API.
    """

    def __new__(
        cls,
        tracking_uri: str | None = None,
        registry_uri: str | None = None,
        *,
        repository: Repository | None = None,
    ) -> TrackingClient:
        uri = tracking_uri or current_tracking_uri() if repository is None else None
        if is_server_uri(uri):
            from mltrack.tracking.remote import RemoteTrackingClient

            # The same method names over REST (Python then skips this class's __init__).
            return cast("TrackingClient", RemoteTrackingClient(uri, registry_uri))
        return super().__new__(cls)

    remote = False  # True for the REST client of a tracking server

    def __init__(
        self,
        tracking_uri: str | None = None,
        registry_uri: str | None = None,
        *,
        repository: Repository | None = None,
    ) -> None:
        """``repository``: work on this open repository (a server, a test) instead of a URI.

        ``location``: the tracking URI or directory the repository is found from.
        """
        self.build_lock = threading.RLock()
        self.tracking_uri = tracking_uri or current_tracking_uri()
        self.location = self.tracking_uri or os.getcwd()
        self._registry_uri = registry_uri
        if repository is not None:
            self.__dict__["repository"] = repository

    repository = OnFirstUse(
        lambda client: open_repository(client.tracking_uri, directory=client.location)
    )

    experiments = OnFirstUse(lambda client: Experiments(client.repository))

    runs = OnFirstUse(lambda client: Runs(client.repository))

    run_logger = OnFirstUse(lambda client: RunLogger(client.repository, client.logged_models))

    artifacts = OnFirstUse(lambda client: RunArtifacts(client.repository))

    logged_models = OnFirstUse(lambda client: LoggedModels(client.repository, client.runs))

    # experiments
    create_experiment = Forward("experiments", Experiments.create)
    get_experiment = Forward("experiments", Experiments.get)
    get_experiment_by_name = Forward("experiments", Experiments.get_by_name)
    search_experiments = Forward("experiments", Experiments.search)
    rename_experiment = Forward("experiments", Experiments.rename)
    delete_experiment = Forward("experiments", Experiments.delete)
    restore_experiment = Forward("experiments", Experiments.restore)
    set_experiment_tag = Forward("experiments", Experiments.set_tag)
    delete_experiment_tag = Forward("experiments", Experiments.delete_tag)

    # runs
    create_run = Forward("runs", Runs.create)
    get_run = Forward("runs", Runs.get)
    get_parent_run = Forward("runs", Runs.get_parent)
    update_run = Forward("runs", Runs.update)
    set_terminated = Forward("runs", Runs.set_terminated)
    delete_run = Forward("runs", Runs.delete)
    restore_run = Forward("runs", Runs.restore)
    search_runs = Forward("runs", Runs.search)
    search_run_records = Forward("runs", Runs.search_records)
    resolve_run_id = Forward("runs", Runs.resolve_id)

    # logging
    log_param = Forward("run_logger", RunLogger.log_param)
    log_metric = Forward("run_logger", RunLogger.log_metric)
    set_tag = Forward("run_logger", RunLogger.set_tag)
    delete_tag = Forward("run_logger", RunLogger.delete_tag)
    log_batch = Forward("run_logger", RunLogger.log_batch)
    log_inputs = Forward("run_logger", RunLogger.log_inputs)
    get_metric_history = Forward("run_logger", RunLogger.get_metric_history)

    # artifacts
    log_artifact = Forward("artifacts", RunArtifacts.log_artifact)
    log_artifacts = Forward("artifacts", RunArtifacts.log_artifacts)
    log_text = Forward("artifacts", RunArtifacts.log_text)
    log_dict = Forward("artifacts", RunArtifacts.log_dict)
    log_stream = Forward("artifacts", RunArtifacts.log_stream)
    log_figure = Forward("artifacts", RunArtifacts.log_figure)
    log_image = Forward("artifacts", RunArtifacts.log_image)
    log_table = Forward("artifacts", RunArtifacts.log_table)
    list_artifacts = Forward("artifacts", RunArtifacts.list_artifacts)
    download_artifacts = Forward("artifacts", RunArtifacts.download_artifacts)
    get_artifact_file = Forward("artifacts", RunArtifacts.get_artifact_file)
    open_artifact_writer = Forward("artifacts", RunArtifacts.open_artifact_writer)

    # logged models (MLflow 3)
    create_logged_model = Forward("logged_models", LoggedModels.create)
    get_logged_model = Forward("logged_models", LoggedModels.get)
    finalize_logged_model = Forward("logged_models", LoggedModels.finalize)
    set_logged_model_tags = Forward("logged_models", LoggedModels.set_tags)
    delete_logged_model_tag = Forward("logged_models", LoggedModels.delete_tag)
    log_model_params = Forward("logged_models", LoggedModels.log_params)
    search_logged_models = Forward("logged_models", LoggedModels.search)
    list_logged_model_artifacts = Forward("logged_models", LoggedModels.list_artifacts)
    log_outputs = Forward("logged_models", LoggedModels.log_outputs)
    delete_logged_model = Forward("logged_models", LoggedModels.delete)
