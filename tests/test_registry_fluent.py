"""``mlflow.search_registered_models``, ``search_model_versions``, ``set_model_version_tag``."""

from __future__ import annotations

from pathlib import Path

import pytest
from sklearn.linear_model import LogisticRegression

import mltrack as mlflow


def _register(name: str, versions: int) -> None:
    for _ in range(versions):
        with mlflow.start_run():
            mlflow.sklearn.log_model(
                LogisticRegression().fit([[0], [1]], [0, 1]),
                name="model",
                registered_model_name=name,
            )


def test_fluent_registry_searches_as_mlflows_example(repo: Path) -> None:
    _register("CordobaWeatherForecastModel", 1)
    _register("BostonWeatherForecastModel", 2)
    found = mlflow.search_registered_models(filter_string="name = 'BostonWeatherForecastModel'")
    assert [m.name for m in found] == ["BostonWeatherForecastModel"]
    found = mlflow.search_registered_models(filter_string="name LIKE 'Boston%'")
    assert [m.name for m in found] == ["BostonWeatherForecastModel"]
    ordered = mlflow.search_registered_models(order_by=["name ASC"])
    assert [m.name for m in ordered] == [
        "BostonWeatherForecastModel",
        "CordobaWeatherForecastModel",
    ]
    assert len(mlflow.search_registered_models(max_results=1)) == 1
    versions = mlflow.search_model_versions(filter_string="name = 'BostonWeatherForecastModel'")
    assert sorted(int(v.version) for v in versions) == [1, 2]
    assert len(mlflow.search_model_versions()) == 3
    assert len(mlflow.search_model_versions(max_results=2)) == 2


def test_set_model_version_tag(repo: Path) -> None:
    _register("fraud", 1)
    mlflow.set_model_version_tag("fraud", "1", "validated", "yes")
    assert mlflow.MlflowClient().get_model_version("fraud", "1").tags == {"validated": "yes"}
    with pytest.raises(mlflow.MltrackError):
        mlflow.set_model_version_tag("fraud", "9", "validated", "yes")
