"""Every public name of MLflow's top-level module is offered by mltrack or refused with a reason."""

from __future__ import annotations

import importlib.util
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

import mltrack
from mltrack.exceptions import MltrackError, NotOffered
from mltrack.not_offered import NOT_OFFERED

DOCS = Path(__file__).resolve().parents[1] / "docs" / "mlflow-compatibility.md"


def test_a_name_not_offered_says_why_in_one_line() -> None:
    for name in ("genai", "trace", "gateway", "deployments", "openai", "search_traces"):
        with pytest.raises(NotOffered) as caught:
            getattr(mltrack, name)
        message = str(caught.value)
        assert message.startswith(f"mltrack.{name} is not offered: ") and "\n" not in message
        assert isinstance(caught.value, AttributeError) and isinstance(caught.value, MltrackError)
        assert not hasattr(mltrack, name)
    with pytest.raises(AttributeError, match="no attribute 'nope'") as other:
        mltrack.nope  # noqa: B018
    assert not isinstance(other.value, NotOffered)


def test_no_name_is_both_offered_and_not_offered() -> None:
    assert not set(NOT_OFFERED) & set(mltrack.__all__)


def test_the_docs_list_every_name_not_offered() -> None:
    text = DOCS.read_text(encoding="utf-8")
    missing = [name for name in NOT_OFFERED if f"`{name}`" not in text]
    assert missing == []


def test_import_mltrack_stays_light() -> None:
    code = (
        "import sys, mltrack\n"
        "print(sorted(m for m in sys.modules if m.startswith('mltrack')))\n"
        "mltrack.enable_system_metrics_logging; mltrack.search_logged_models\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "['mltrack']"


def _mlflow_names() -> list[str]:
    """The public names of ``import mlflow`` in a fresh process, and its public subpackages
    (any of them becomes an attribute once something imports it)."""
    code = (
        "import pkgutil, mlflow\n"
        "names = {n for n in dir(mlflow) if not n.startswith('_')}\n"
        "names |= {m.name for m in pkgutil.iter_modules(mlflow.__path__)"
        " if not m.name.startswith('_')}\n"
        "print(mlflow.__version__, *sorted(names))\n"
    )
    version, *names = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert version == "3.17.2", "the list is checked against MLflow 3.17.2"
    return names


@pytest.mark.mlflow
def test_every_public_name_of_mlflow_is_offered_or_refused() -> None:
    pytest.importorskip("mlflow")
    public = _mlflow_names()
    offered = set(mltrack.__all__)
    own_modules = {n for n in public if importlib.util.find_spec(f"mltrack.{n}") is not None}
    unaccounted = [
        n for n in public if n not in offered and n not in NOT_OFFERED and n not in own_modules
    ]
    assert unaccounted == []
    stale = sorted(set(NOT_OFFERED) - set(public))
    assert stale == []  # every listed name is one MLflow really has
    for name in NOT_OFFERED:
        assert name not in own_modules, name  # an mltrack module of that name would shadow it
        assert not hasattr(mltrack, name), name


@pytest.mark.mlflow
def test_new_functions_take_mlflows_parameters() -> None:
    mlflow = pytest.importorskip("mlflow")
    names = [
        "search_logged_models", "get_logged_model", "set_active_model", "get_active_model_id",
        "clear_active_model", "flush_async_logging", "flush_artifact_async_logging",
        "enable_system_metrics_logging", "disable_system_metrics_logging",
        "set_system_metrics_sampling_interval", "set_system_metrics_samples_before_logging",
        "set_system_metrics_node_id", "log_model_params", "set_logged_model_tags",
        "delete_logged_model_tag", "initialize_logged_model", "create_external_model",
        "finalize_logged_model", "log_outputs", "restore_run", "is_tracking_uri_set",
        "log_stream", "search_registered_models", "search_model_versions",
        "set_model_version_tag",
    ]  # fmt: skip
    for name in names:
        theirs = [p for p in inspect.signature(getattr(mlflow, name)).parameters]
        ours = [p for p in inspect.signature(getattr(mltrack, name)).parameters]
        assert ours[: len(theirs)] == theirs, name
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", mltrack.VERSION)
