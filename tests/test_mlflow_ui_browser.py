"""MLflow's own web UI (from the installed MLflow 3.17.2) against ``mltrack server --mlflow-ui``.

Debian's chromium driven by Playwright, as tests/test_ui_browser.py does. The UI is
MLflow's unchanged build; its data comes from mltrack's REST routes under
``/mlflow/ajax-api/``, the run page from ``/mlflow/graphql`` and files from
``/mlflow/get-artifact``. Screenshots go to ``test-artifacts/mlflow-ui/``.
"""

from __future__ import annotations

import base64
import importlib.util
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright import sync_api

from liveserver import make_repo
from support import TrackingServer

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("mlflow") is None, reason="needs an installed MLflow (its UI)"
    ),
]

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
SHOTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "mlflow-ui"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
WAIT_MS = 60_000
ADMIN_PASSWORD = "admin-mlflow-ui-pw"


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return response.json() if response.content else {}  # type: ignore[no-any-return]


def populate(http: httpx.Client) -> dict[str, str]:
    """An experiment with a finished run: metrics, a param, a file, a registered version."""
    name = f"mlflow-ui-{uuid.uuid4().hex[:6]}"
    experiment_id = ok(http.post(f"{API}/experiments/create", json={"name": name}))["experiment_id"]
    run = ok(http.post(f"{API}/runs/create", json={"experiment_id": experiment_id}))["run"]
    run_id = run["info"]["run_id"]
    metrics = [
        {"key": "val_accuracy", "value": 0.5 + step / 100, "timestamp": 1000 + step, "step": step}
        for step in range(20)
    ]
    params = [{"key": "learning_rate", "value": "0.0125"}]
    ok(
        http.post(
            f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": metrics, "params": params}
        )
    )
    base = f"{ARTIFACTS}/{experiment_id}/{run_id}/artifacts"
    ok(http.put(f"{base}/notes/readme.txt", content=b"trained on the full set\n"))
    mlmodel = "artifact_path: model\nflavors:\n  python_function:\n    loader_module: x\n"
    ok(http.put(f"{base}/model/MLmodel", content=mlmodel.encode()))
    ok(http.post(f"{API}/runs/update", json={"run_id": run_id, "status": "FINISHED"}))
    model = f"model-{uuid.uuid4().hex[:6]}"
    ok(http.post(f"{API}/registered-models/create", json={"name": model}))
    version = {"name": model, "source": f"runs:/{run_id}/model", "run_id": run_id}
    ok(http.post(f"{API}/model-versions/create", json=version))
    return {
        "experiment": name,
        "experiment_id": experiment_id,
        "run_id": run_id,
        "run_name": run["info"]["run_name"],
        "model": model,
    }


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium = shutil.which("chromium")
    if chromium is None:
        raise RuntimeError("chromium is not installed: `apt-get install -y chromium`.")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    repo, home = make_repo(tmp_path_factory.mktemp("mlflow-ui"))
    server = TrackingServer(repo, "--mlflow-ui", home=home)
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            yield {"url": server.url, **populate(http)}
    finally:
        server.stop()


class Tab:
    """A page that records what the UI asked of the server."""

    def __init__(self, browser: Any, **context: Any) -> None:
        self.context = browser.new_context(viewport={"width": 1400, "height": 900}, **context)
        self.page = self.context.new_page()
        self.answers: list[tuple[int, str, str]] = []
        self.page.on("response", lambda r: self.answers.append((r.status, r.request.method, r.url)))

    def asked(self, path: str) -> list[int]:
        return [status for status, _, url in self.answers if path in url]

    def see(self, text: str) -> None:
        self.page.get_by_text(text, exact=True).first.wait_for(timeout=WAIT_MS)


@pytest.fixture
def tab(browser: Any) -> Iterator[Tab]:
    opened = Tab(browser)
    yield opened
    opened.context.close()


def test_mlflow_ui_lists_experiments(site: dict[str, Any], tab: Tab) -> None:
    tab.page.goto(f"{site['url']}/mlflow/#/experiments")
    tab.see(site["experiment"])
    tab.page.screenshot(path=str(SHOTS / "experiments.png"))
    assert 200 in tab.asked("/mlflow/ajax-api/2.0/mlflow/experiments/search")


def test_mlflow_ui_run_page_reads_graphql(site: dict[str, Any], tab: Tab) -> None:
    run_page = f"{site['url']}/mlflow/#/experiments/{site['experiment_id']}/runs/{site['run_id']}"
    tab.page.goto(run_page)
    tab.see("learning_rate")
    tab.see("0.0125")
    tab.see("val_accuracy")
    tab.see(site["run_id"])
    tab.page.screenshot(path=str(SHOTS / "run.png"))
    graphql = tab.asked("/mlflow/graphql")
    assert graphql and set(graphql) == {200}, tab.answers
    # Its artifacts tab lists the run's files through the REST routes.
    tab.page.get_by_text("Artifacts", exact=True).first.click()
    tab.see("notes")
    tab.page.get_by_text("notes", exact=True).first.click()
    tab.see("readme.txt")
    tab.page.get_by_text("readme.txt", exact=True).first.click()
    tab.see("trained on the full set")  # the file itself, from /mlflow/get-artifact
    tab.page.screenshot(path=str(SHOTS / "artifacts.png"))
    assert 200 in tab.asked("/mlflow/ajax-api/2.0/mlflow/artifacts/list")
    assert 200 in tab.asked("/mlflow/get-artifact")


def test_mlflow_ui_metric_chart_and_registry(site: dict[str, Any], tab: Tab) -> None:
    run_page = f"{site['url']}/mlflow/#/experiments/{site['experiment_id']}/runs/{site['run_id']}"
    tab.page.goto(f"{run_page}/model-metrics")
    tab.see(f"{site['run_name']} (val_accuracy)")  # the chart's legend
    tab.page.screenshot(path=str(SHOTS / "chart.png"))
    tab.page.goto(f"{site['url']}/mlflow/#/models")
    tab.see(site["model"])
    tab.page.screenshot(path=str(SHOTS / "models.png"))
    assert 200 in tab.asked("/mlflow/ajax-api/2.0/mlflow/registered-models/search")


def test_mlflow_ui_behind_auth(browser: Any, tmp_path: Path) -> None:
    repo, home = make_repo(tmp_path)
    env = {"MLTRACK_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD}
    server = TrackingServer(repo, "--auth", "--mlflow-ui", home=home, env=env)
    try:
        secret = base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Basic {secret}"}, timeout=60
        ) as http:
            data = populate(http)
        assert httpx.get(f"{server.url}/mlflow/", timeout=60).status_code == 401
        credentials = {"username": "admin", "password": ADMIN_PASSWORD}
        tab = Tab(browser, http_credentials=credentials)
        try:
            run_page = (
                f"{server.url}/mlflow/#/experiments/{data['experiment_id']}/runs/{data['run_id']}"
            )
            tab.page.goto(run_page)
            tab.see("learning_rate")
            assert set(tab.asked("/mlflow/graphql")) == {200}
        finally:
            tab.context.close()
    finally:
        server.stop()
