"""requirements.txt lists what a model needs: the distributions behind the modules its files name."""

from __future__ import annotations

import collections
import datetime
import decimal
import fractions
import pathlib
import pickle
import sys
import textwrap
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mltrack.models.requirements import distributions_for_modules, modules_in_pickle

COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def _user_package(root: Path) -> None:
    """An installed distribution 'acme-features' 0.3 providing the module acme_features."""
    package = root / "acme_features"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        textwrap.dedent(
            """
            from sklearn.base import BaseEstimator, TransformerMixin


            class Doubler(TransformerMixin, BaseEstimator):
                def fit(self, X, y=None):
                    return self

                def transform(self, X):
                    return X * 2
            """
        )
    )
    info = root / "acme_features-0.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-features\nVersion: 0.3\n")
    (info / "top_level.txt").write_text("acme_features\n")


@pytest.fixture
def acme(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    site = tmp_path / "site"
    _user_package(site)
    monkeypatch.syspath_prepend(str(site))
    import acme_features

    yield acme_features
    sys.modules.pop("acme_features", None)


def _iris() -> tuple[pd.DataFrame, Any]:
    from sklearn.datasets import load_iris

    data = load_iris()
    return pd.DataFrame(data.data, columns=COLUMNS), data.target


def _requirement_names(path: Path) -> dict[str, str]:
    lines = (path / "requirements.txt").read_text().split()
    return dict(line.split("==", 1) for line in lines)


def test_pipeline_with_user_transformer_and_xgboost_lists_both(repo: Path, acme: Any) -> None:
    xgb = pytest.importorskip("xgboost")
    from sklearn.pipeline import Pipeline

    import mltrack

    X, y = _iris()
    pipeline = Pipeline(
        [("double", acme.Doubler()), ("boost", xgb.XGBClassifier(n_estimators=3))]
    ).fit(X, y)
    with mltrack.start_run() as run:
        mltrack.sklearn.log_model(pipeline, name="model", input_example=X.head(2))
    directory = repo / f".mltrack/experiments/0/runs/{run.info.run_id}/artifacts/model"
    found = _requirement_names(directory)
    assert found["acme-features"] == "0.3"
    assert {"xgboost", "xgboost-cpu"} & set(found), found
    assert {"scikit-learn", "cloudpickle"} <= set(found), found
    assert "-r requirements.txt" in (directory / "python_env.yaml").read_text()
    assert "acme-features==0.3" in (directory / "conda.yaml").read_text()


def test_pip_requirements_replace_and_extra_pip_requirements_add(tmp_path: Path) -> None:
    from sklearn.linear_model import LinearRegression

    import mltrack

    X, y = _iris()
    model = LinearRegression().fit(X, y)
    mltrack.sklearn.save_model(model, tmp_path / "a", pip_requirements=["scikit-learn>=1.3"])
    assert (tmp_path / "a/requirements.txt").read_text().split() == ["scikit-learn>=1.3"]
    mltrack.sklearn.save_model(model, tmp_path / "b", extra_pip_requirements=["acme==1.0"])
    lines = (tmp_path / "b/requirements.txt").read_text().split()
    assert lines[-1] == "acme==1.0"
    assert any(line.startswith("scikit-learn==") for line in lines)


def test_standard_library_and_unowned_modules_add_nothing() -> None:
    assert distributions_for_modules(["collections", "json.decoder", "builtins", "__main__"]) == []
    assert distributions_for_modules(["no_such_module_anywhere"]) == []
    assert distributions_for_modules(["numpy.core.multiarray", "sklearn.tree"]) == [
        "numpy",
        "scikit-learn",
    ]


_VALUES = {
    "collections": collections.OrderedDict(a=1),
    "datetime": datetime.date(2020, 1, 2),
    "decimal": decimal.Decimal("1.5"),
    "fractions": fractions.Fraction(1, 3),
    "pathlib": pathlib.PurePosixPath("/a"),
}


@settings(max_examples=60, deadline=None)
@given(
    chosen=st.lists(st.sampled_from(sorted(_VALUES)), min_size=1, max_size=8),
    protocol=st.integers(0, pickle.HIGHEST_PROTOCOL),
)
def test_every_referenced_module_is_found_at_every_protocol(
    tmp_path_factory: pytest.TempPathFactory, chosen: list[str], protocol: int
) -> None:
    """Repeated classes come back through the memo (BINGET) at protocol 4+; all are still found."""
    path = tmp_path_factory.mktemp("pickles") / "value.pkl"
    path.write_bytes(pickle.dumps([_VALUES[name] for name in chosen], protocol=protocol))
    found = {module.split(".")[0] for module in modules_in_pickle(path)}
    assert set(chosen) <= found


def test_cloudpickled_function_names_the_modules_it_uses(tmp_path: Path) -> None:
    import numpy

    from mltrack.models import pickling

    def scale(values: Any) -> Any:
        return numpy.asarray(values) * 2

    scale.__module__ = "__main__"  # pickled by value, as a training script's function is
    pickling.dump(scale, tmp_path / "f.pkl", "cloudpickle")
    assert "numpy" in modules_in_pickle(tmp_path / "f.pkl")


def test_unreadable_file_gives_no_modules_and_no_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.pkl"
    path.write_bytes(b"\x80\x05not a pickle")
    assert modules_in_pickle(path) == set()
