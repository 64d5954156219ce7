"""The web UI's routes over HTTP (httpx against a live ``mltrack server``): pages, safety,
downsampling. Fast checks of the HTML; tests/test_ui_browser.py drives the same pages in
chromium. (Starlette's Client is deprecated with httpx in the Starlette we pin, and
the rest of the suite tests its servers live, on 127.0.0.1.)
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from httpx import Client
from hypothesis import given
from hypothesis import strategies as st

from conftest import invoke
from liveserver import make_repo
from mltrack.ui.charts import downsample
from support import ServerProcess, TrackingServer
from ui_data import child_env

UI_DATA = Path(__file__).with_name("ui_data.py")
XSS = "<script>window.__xss=1</script>"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    repo, home = make_repo(tmp_path_factory.mktemp("ui"))
    result = subprocess.run(
        [sys.executable, str(UI_DATA), "demo"],
        cwd=repo, env=child_env(home), capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    server = TrackingServer(repo, home=home)
    yield {"repo": repo, "url": server.url, "runs": json.loads(result.stdout.splitlines()[-1])}
    server.stop()


@pytest.fixture
def client(demo: dict[str, Any]) -> Iterator[Client]:
    with Client(base_url=demo["url"], timeout=60) as test_client:
        yield test_client


def experiment_id(client: Client) -> str:
    return re.search(r'href="/experiments/([^"]+)">sweep<', client.get("/").text).group(1)


def run_path(client: Client, demo: dict[str, Any], name: str) -> str:
    return f"/experiments/{experiment_id(client)}/runs/{demo['runs'][name]}"


def test_every_page_renders(client: Client, demo: dict[str, Any]) -> None:
    eid = experiment_id(client)
    ids = "&".join(f"runs={r}" for r in demo["runs"].values())
    base = run_path(client, demo, "baseline")
    for path in (
        "/",
        "/experiments",
        f"/experiments/{eid}",
        f"/experiments/{eid}?rev=HEAD~3",
        f"/experiments/{eid}?view=all&order=metrics.`loss` ASC&page=1",
        base,
        f"{base}?path=model",
        f"{base}?path=model/MLmodel",
        f"{base}?path=history.csv",
        f"{base}?path=config.json",
        f"{base}?path=config.yaml",
        f"{base}?path=plots/chart.png",
        f"{base}?rev=HEAD",
        f"/charts?{ids}",
        f"/compare?{ids}",
        "/models",
        "/models/classifier",
        "/models/classifier/versions/1",
        "/models/classifier/versions/2",
        "/timeline",
        "/diff?a=HEAD~3&b=HEAD",
        "/diff?a=HEAD",
        "/static/ui/ui.css",
        "/static/ui/chart.js",
    ):
        response = client.get(path)
        assert response.status_code == 200, (path, response.text[:500])
    assert client.get("/experiments").text.count("<tr>") >= 2


def test_experiments_list_counts_runs(client: Client) -> None:
    row = re.search(r">sweep</a></td>.*?<td class=\"num\">(\d+)</td>", client.get("/").text, re.S)
    assert row is not None and row.group(1) == "3"


def test_runs_table_filters_sorts_pages_and_reports_parse_errors(client: Client) -> None:
    eid = experiment_id(client)

    def names(query: str) -> list[str]:
        page = client.get(f"/experiments/{eid}", params={"filter": query, "order": order})
        return re.findall(r'/runs/[0-9a-f]+">([^<]+)</a>', page.text)

    order = "params.`lr` ASC"
    assert names("params.lr = '0.1' OR params.lr = '0.03'") == ["wide", "baseline"]
    order = "params.`lr` DESC"
    assert names("(params.lr = '0.1' OR params.lr = '0.03') AND params.model = 'logreg'") == [
        "baseline",
        "wide",
    ]
    page = client.get(f"/experiments/{eid}", params={"filter": "metrics.accuracy >"})
    assert page.status_code == 200
    assert 'id="filter-error"' in page.text and "No runs match." in page.text


def test_column_chooser_and_revision_picker(client: Client, demo: dict[str, Any]) -> None:
    eid = experiment_id(client)
    page = client.get(f"/experiments/{eid}", params={"cols": ["tags.team"]}).text
    assert "Sort by tags.team" in page and "Sort by params.lr" not in page
    # At the commit of the first run only that run exists.
    first = client.get(f"/experiments/{eid}", params={"rev": "HEAD~4"}).text
    assert re.search(r'id="run-count">(\d+)<', first).group(1) == "1"
    bad = client.get(f"/experiments/{eid}", params={"rev": "no-such-branch"})
    assert bad.status_code == 200 and 'id="filter-error"' in bad.text


def test_run_page_shows_params_metrics_tags_inputs_code_and_commit(
    client: Client, demo: dict[str, Any]
) -> None:
    page = client.get(run_path(client, demo, "baseline")).text
    assert ">lr</th><td>0.1</td>" in page
    assert "0.0651" in page or "loss" in page
    assert ">team</th>" in page and "toy" in page and "training" in page
    assert "Run baseline: FINISHED in sweep" in page
    assert re.search(r'badge (ok|warn)">(clean|dirty)', page)


def test_artifact_previews(client: Client, demo: dict[str, Any]) -> None:
    base = run_path(client, demo, "baseline")
    csv = client.get(f"{base}?path=history.csv").text
    assert '<table class="grid" id="csv-preview">' in csv and "<th>epoch</th>" in csv
    model = client.get(f"{base}?path=model/MLmodel").text
    assert 'id="signature-inputs"' in model and "<td>double</td>" in model
    data = client.get(f"{base}?path=config.json").text
    assert "&#34;lr&#34;: 0.1" in data or "&quot;lr&quot;: 0.1" in data
    image = client.get(
        f"/runs/{demo['runs']['baseline']}/artifact", params={"path": "plots/chart.png"}
    )
    assert image.headers["content-type"] == "image/png" and image.content.startswith(b"\x89PNG")
    download = client.get(
        f"/runs/{demo['runs']['baseline']}/artifact", params={"path": "notes.txt", "download": "1"}
    )
    assert download.headers["content-disposition"].startswith("attachment")
    assert "sandbox" in download.headers["content-security-policy"]


def test_html_is_escaped_everywhere(client: Client, demo: dict[str, Any]) -> None:
    xss_run = next(name for name in demo["runs"] if name.startswith("<script>"))
    eid = experiment_id(client)
    ids = "&".join(f"runs={r}" for r in demo["runs"].values())
    base = run_path(client, demo, xss_run)
    for path in (
        f"/experiments/{eid}?cols=params.note&cols=tags.comment",
        base,
        f"{base}?path=notes.txt",
        f"{base}?path=config.json",
        f"{base}?path=history.csv",
        f"/compare?{ids}&all=1",
        "/timeline",
        f"/experiments/{eid}?filter=" + XSS,
    ):
        page = client.get(path).text
        assert XSS not in page, path
        assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in page, path
    # JSON embedded in a page cannot close its script element.
    chart = client.get(f"/charts?{ids}").text
    assert "\\u003cscript\\u003e" in chart
    # Artifacts are never served as HTML.
    raw = client.get(f"/runs/{demo['runs'][xss_run]}/artifact", params={"path": "notes.txt"})
    assert raw.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize(
    "path", ["../run.yaml", "/etc/passwd", "a/../../run.yaml", "..\\run.yaml", ".git/config"]
)
def test_artifact_paths_cannot_leave_the_run(
    client: Client, demo: dict[str, Any], path: str
) -> None:
    run_id = demo["runs"]["baseline"]
    assert client.get(f"/runs/{run_id}/artifact", params={"path": path}).status_code == 400
    assert client.get(run_path(client, demo, "baseline"), params={"path": path}).status_code == 400


def test_symlinks_out_of_the_run_are_refused(client: Client, demo: dict[str, Any]) -> None:
    run_id = demo["runs"]["wide"]
    artifacts = next(demo["repo"].glob(f".mltrack/experiments/*/runs/{run_id}/artifacts"))
    secret = demo["repo"].parent / "secret.txt"
    secret.write_text("secret")
    (artifacts / "leak.txt").symlink_to(secret)
    (artifacts / "leakdir").symlink_to(demo["repo"].parent, target_is_directory=True)
    try:
        assert (
            client.get(f"/runs/{run_id}/artifact", params={"path": "leak.txt"}).status_code == 400
        )
        page = client.get(run_path(client, demo, "wide"), params={"path": "leak.txt"})
        assert page.status_code == 400 and "secret" not in page.text.replace("secret.txt", "")
        assert (
            client.get(run_path(client, demo, "wide"), params={"path": "leakdir"}).status_code
            == 400
        )
        listing = client.get(run_path(client, demo, "wide")).text
        assert "leak.txt" not in listing and "leakdir" not in listing
    finally:
        (artifacts / "leak.txt").unlink()
        (artifacts / "leakdir").unlink()


def test_posts_need_the_csrf_token(client: Client, demo: dict[str, Any]) -> None:
    run_id = demo["runs"]["wide"]
    refused = client.post(f"/runs/{run_id}/lifecycle", data={"action": "delete"})
    assert refused.status_code == 400 and "CSRF" in refused.text
    client.cookies.set("mltrack_csrf", "a")
    forged = client.post(f"/runs/{run_id}/lifecycle", data={"action": "delete", "csrf_token": "b"})
    assert forged.status_code == 400
    promote = client.post(
        "/models/classifier/versions/2", data={"stage": "Production", "csrf_token": "b"}
    )
    assert promote.status_code == 400
    assert "Production" not in client.get("/models/classifier").text.split("v2</a>")[1][:200]


def test_delete_and_restore_a_run(client: Client, demo: dict[str, Any]) -> None:
    run_id = demo["runs"]["wide"]
    page = client.get(run_path(client, demo, "wide"))
    token = client.cookies["mltrack_csrf"]
    assert f'value="{token}"' in page.text
    done = client.post(
        f"/runs/{run_id}/lifecycle",
        data={"action": "delete", "csrf_token": token},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert "Restore run" in client.get(done.headers["location"]).text
    client.post(f"/runs/{run_id}/lifecycle", data={"action": "restore", "csrf_token": token})
    assert "Delete run" in client.get(run_path(client, demo, "wide")).text


def test_promotion_on_a_review_branch(client: Client, demo: dict[str, Any]) -> None:
    repo = demo["repo"]
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True
    ).stdout
    client.get("/models/classifier/versions/2")
    token = client.cookies["mltrack_csrf"]
    page = client.post(
        "/models/classifier/versions/2",
        data={"action": "stage", "stage": "Production", "branch": "review/v2", "csrf_token": token},
    )
    assert page.status_code == 200
    assert "gh pr create --head review/v2 --fill" in page.text
    subject = subprocess.run(
        ["git", "log", "-1", "--format=%s", "review/v2"], cwd=repo, capture_output=True, text=True
    ).stdout
    assert subject.strip() == "Promote 'classifier' version 2 to Production (replacing version 1)"
    assert (
        subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True
        ).stdout
        == head
    )
    alias = client.post(
        "/models/classifier/versions/2",
        data={
            "action": "alias",
            "alias": "candidate",
            "branch": "review/alias",
            "csrf_token": token,
        },
    )
    assert "@candidate now points at version 2" in alias.text


def test_version_page_compares_with_production(client: Client) -> None:
    page = client.get("/models/classifier/versions/2").text
    assert "### classifier: version 1 vs version 2" in page
    assert "✓ verified" in client.get("/models/classifier").text


def test_series_is_downsampled_and_sorted(client: Client, demo: dict[str, Any]) -> None:
    run_id = demo["runs"]["baseline"]
    full = client.get("/ui-api/series", params={"run": run_id, "key": "loss"}).json()
    assert full["total"] == 200 and len(full["points"]) == 200
    small = client.get(
        "/ui-api/series", params={"run": run_id, "key": "loss", "buckets": 10}
    ).json()
    assert len(small["points"]) <= 40
    steps = [p[0] for p in small["points"]]
    assert steps == sorted(steps) and steps[0] == 0 and steps[-1] == 199
    values = [p[1] for p in full["points"]]
    kept = [p[1] for p in small["points"]]
    assert min(values) in kept and max(values) in kept
    by_time = client.get(
        "/ui-api/series", params={"run": run_id, "key": "loss", "x": "time"}
    ).json()
    assert by_time["x"] == "time" and by_time["total"] == 200


def test_mlflow_hash_routes_are_handled_on_the_root_page(client: Client) -> None:
    script = client.get("/static/ui/ui.js").text
    assert '"/runs/"' in script and '"/versions/"' in script
    assert '<script src="/static/ui/ui.js"' in client.get("/").text


@given(
    values=st.lists(
        st.floats(allow_nan=True, allow_infinity=False, width=32), min_size=0, max_size=300
    ),
    buckets=st.integers(1, 20),
)
def test_downsample_keeps_the_ends_and_every_extreme(values: list[float], buckets: int) -> None:
    import math

    kept = downsample(values, buckets).tolist()
    assert (
        kept == sorted(set(kept))
        and len(kept) <= max(len(values), 0)
        and len(kept)
        <= max(4 * buckets, len(values) if len(values) <= 4 * buckets else 0) + 4 * buckets
    )
    if not values:
        assert kept == []
        return
    assert kept[0] == 0 and kept[-1] == len(values) - 1
    finite = [v for v in values if not math.isnan(v)]
    if finite:
        assert min(finite) in [values[i] for i in kept]
        assert max(finite) in [values[i] for i in kept]
    if len(values) > 4 * buckets:
        assert len(kept) <= 4 * buckets


def test_mltrack_ui_command_serves_the_ui(demo: dict[str, Any], tmp_path: Path) -> None:
    import urllib.request

    ui = ServerProcess("ui", str(demo["repo"]), ready_path="/", log_dir=tmp_path)
    try:
        with urllib.request.urlopen(f"{ui.url}/", timeout=5) as response:
            page = response.read().decode()
        assert "<title>Experiments · mltrack</title>" in page and ">sweep</a>" in page
        with urllib.request.urlopen(f"{ui.url}/health", timeout=5) as response:
            assert response.read() == b"OK"
    finally:
        ui.stop()


def test_mltrack_ui_outside_a_repository_is_a_one_line_error(cli: Any, tmp_path: Path) -> None:
    result = invoke(cli, "ui", str(tmp_path / "missing"))
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and "does not exist" in result.stderr


def test_every_asset_is_local() -> None:
    """No CDN, web font or analytics: pages and scripts name only this server's paths."""
    import mltrack.ui

    package = Path(mltrack.ui.__file__).parent
    for file in [*package.glob("templates/*.html"), *package.glob("static/*")]:
        text = file.read_text()
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text, re.I), file.name
        assert "@import" not in text and "@font-face" not in text, file.name
