"""The stock MLflow 3.17.2 client against a live ``mltrack server --auth`` (and over TLS).

Users log in as MLflow's basic-auth app expects (``MLFLOW_TRACKING_USERNAME`` /
``PASSWORD``, or ``MLFLOW_TRACKING_TOKEN``), are allowed or refused per
permission level, are managed with ``AuthServiceClient``, and author the
commits they cause.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from liveserver import make_repo, run_cli
from support import TrackingServer, child_env

pytestmark = [
    pytest.mark.mlflow,
    pytest.mark.filterwarnings("ignore:.*Model registry stages will be removed:FutureWarning"),
]

mlflow = pytest.importorskip("mlflow", reason="needs the `mlflow` test extra")

from mlflow.exceptions import RestException  # noqa: E402
from mlflow.server.auth.client import AuthServiceClient  # noqa: E402

ADMIN_PASSWORD = "admin-secret-pw"
PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrackingServer]:
    repo, home = make_repo(tmp_path_factory.mktemp("auth"))
    live = TrackingServer(
        repo, "--auth", home=home, env={"MLTRACK_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD}
    )
    yield live
    live.stop()


def login(monkeypatch: pytest.MonkeyPatch, user: str, *, token: str | None = None) -> None:
    """Make the MLflow client in this process send ``user``'s credentials."""
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    if token is not None:
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", token)
        return
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user)
    monkeypatch.setenv(
        "MLFLOW_TRACKING_PASSWORD", ADMIN_PASSWORD if user == "admin" else PASSWORDS[user]
    )


@pytest.fixture(scope="module")
def users(server: TrackingServer) -> dict[str, str]:
    """alice and bob, created through AuthServiceClient; bob's API token."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
        login(patch, "admin")
        auth = AuthServiceClient(server.url)
        for username, password in PASSWORDS.items():
            auth.create_user(username, password)
    result = run_cli(
        "-C", str(server.repo), "users", "update", "alice",
        "--email", "alice@example.org", "--display-name", "Alice Liddell",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    token = run_cli("-C", str(server.repo), "users", "token", "bob")
    assert token.returncode == 0, token.stderr
    return {"bob_token": token.stdout.strip()}


@pytest.fixture
def client(server: TrackingServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(server.url)
    return mlflow.MlflowClient(server.url)


def denied(call: Any) -> None:
    """Refused with 403 PERMISSION_DENIED (the artifact client raises requests' HTTPError)."""
    from requests import HTTPError

    with pytest.raises((RestException, HTTPError)) as caught:
        call()
    assert "PERMISSION_DENIED" in str(caught.value), caught.value


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True
    ).stdout


def alices_model(client: Any, tmp_path: Path, name: str) -> tuple[str, str]:
    """(experiment id, run id): alice's finished run with a model, registered as ``name`` v1."""
    experiment = client.create_experiment(name)
    run = client.create_run(experiment, run_name="train")
    run_id = run.info.run_id
    client.log_param(run_id, "alpha", "0.5")
    client.log_metric(run_id, "acc", 0.9)
    model = tmp_path / "model"
    model.mkdir()
    (model / "MLmodel").write_text(
        "artifact_path: model\nflavors:\n  python_function:\n    loader_module: x\n"
    )
    (model / "weights.bin").write_bytes(b"weights")
    client.log_artifacts(run_id, str(model), "model")
    client.set_terminated(run_id)
    client.create_registered_model(name)
    client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id)
    return experiment, run_id


def test_a_missing_or_wrong_login_is_refused(
    server: TrackingServer, users: dict[str, str], client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RestException) as caught:
        client.search_experiments()
    assert caught.value.error_code == "UNAUTHENTICATED"
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "alice")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "not-hers")
    with pytest.raises(RestException, match="not authenticated"):
        client.search_experiments()


@pytest.mark.parametrize("bob_logs_in_with", ["password", "token"])
def test_each_permission_level_allows_and_refuses_what_mlflow_does(
    server: TrackingServer,
    users: dict[str, str],
    client: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    bob_logs_in_with: str,
) -> None:
    name = f"levels-{bob_logs_in_with}"
    login(monkeypatch, "alice")
    experiment, run_id = alices_model(client, tmp_path, name)
    live = client.create_run(experiment).info.run_id

    def as_bob() -> None:
        token = users["bob_token"] if bob_logs_in_with == "token" else None
        login(monkeypatch, "bob", token=token)

    # READ, the server's default: bob reads everything of alice's, changes nothing.
    as_bob()
    assert client.get_experiment(experiment).name == name
    assert client.get_run(run_id).data.params == {"alpha": "0.5"}
    assert [r.info.run_id for r in client.search_runs([experiment])]
    files = client.download_artifacts(run_id, "model", str(tmp_path / "down"))
    assert (Path(files) / "weights.bin").read_bytes() == b"weights"
    assert client.get_model_version(name, "1").run_id == run_id
    loaded = mlflow.artifacts.download_artifacts(f"models:/{name}/1", dst_path=str(tmp_path / "v1"))
    assert (Path(loaded) / "weights.bin").read_bytes() == b"weights"
    denied(lambda: client.log_metric(live, "loss", 1.0))
    denied(lambda: client.log_artifact(live, str(tmp_path / "model" / "MLmodel")))
    denied(lambda: client.set_experiment_tag(experiment, "k", "v"))
    denied(lambda: client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id))
    denied(lambda: client.set_registered_model_alias(name, "champion", "1"))
    denied(lambda: client.delete_registered_model(name))
    login(monkeypatch, "alice")
    assert client.get_metric_history(live, "loss") == []
    assert client.list_artifacts(live) == []
    assert "k" not in client.get_experiment(experiment).tags
    assert len(client.search_model_versions(f"name='{name}'")) == 1

    # EDIT (granted with MLflow 3's per-user API): bob logs and promotes, may not delete.
    login(monkeypatch, "admin")
    auth = AuthServiceClient(server.url)
    auth.grant_user_permission("bob", "experiment", experiment, "EDIT")
    auth.grant_user_permission("bob", "registered_model", name, "EDIT")
    assert auth.get_user_permission("bob", "experiment", experiment).permission == "EDIT"
    as_bob()
    client.log_metric(live, "loss", 1.0)
    client.set_registered_model_alias(name, "champion", "1")
    client.transition_model_version_stage(name, "1", "Staging")
    denied(lambda: client.delete_run(live))
    denied(lambda: client.delete_model_version(name, "1"))

    # MANAGE: bob may delete, and grant.
    login(monkeypatch, "admin")
    auth.grant_user_permission("bob", "experiment", experiment, "MANAGE")
    as_bob()
    client.delete_run(live)
    assert client.get_run(live).info.lifecycle_stage == "deleted"
    AuthServiceClient(server.url).grant_user_permission("alice", "experiment", experiment, "READ")

    # NO_PERMISSIONS: bob cannot even see it.
    login(monkeypatch, "admin")
    auth.grant_user_permission("bob", "experiment", experiment, "NO_PERMISSIONS")
    auth.grant_user_permission("bob", "registered_model", name, "NO_PERMISSIONS")
    as_bob()
    denied(lambda: client.get_run(run_id))
    denied(lambda: client.get_registered_model(name))
    assert experiment not in {e.experiment_id for e in client.search_experiments()}
    assert name not in {m.name for m in client.search_registered_models()}


def test_auth_service_client_manages_users(
    server: TrackingServer, users: dict[str, str], client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    login(monkeypatch, "admin")
    auth = AuthServiceClient(server.url)
    carol = auth.create_user("carol", "carol-pw")
    assert (carol.username, carol.is_admin) == ("carol", False)
    with pytest.raises(RestException, match="already exists"):
        auth.create_user("carol", "other")
    auth.update_user_admin("carol", True)
    assert auth.get_user("carol").is_admin
    auth.update_user_password("carol", "carol-new")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "carol")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "carol-new")
    assert auth.get_user("carol").username == "carol"
    with pytest.raises(RestException, match="Current password is required"):
        auth.update_user_password("carol", "x")
    auth.update_user_password("carol", "carol-3rd", current_password="carol-new")
    login(monkeypatch, "bob")
    denied(lambda: auth.create_user("eve", "eve-pw"))
    denied(lambda: auth.get_user("carol"))
    denied(lambda: auth.delete_user("carol"))
    login(monkeypatch, "admin")
    auth.delete_user("carol")
    with pytest.raises(RestException) as caught:
        auth.get_user("carol")
    assert caught.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_commits_name_who_logged_registered_and_promoted(
    server: TrackingServer,
    users: dict[str, str],
    client: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    login(monkeypatch, "alice")
    name = "authored"
    alices_model(client, tmp_path, name)
    login(monkeypatch, "admin")
    AuthServiceClient(server.url).grant_user_permission("bob", "registered_model", name, "EDIT")
    login(monkeypatch, "bob", token=users["bob_token"])
    client.set_registered_model_alias(name, "prod", "1")
    log = git(server.repo, "log", "--format=%an %ae|%s")
    authors = dict(reversed(line.split("|", 1)) for line in log.splitlines())
    run_commit = next(subject for subject in authors if subject.startswith("Run train"))
    assert authors[run_commit] == "Alice Liddell alice@example.org"
    promotion = next(subject for subject in authors if "prod" in subject)
    assert authors[promotion] == "bob bob@mltrack"
    committer = git(server.repo, "log", "-1", "--format=%cn %ce").strip()
    assert committer == "Test User test@example.com"  # the server's own identity
    tagger = git(
        server.repo, "tag", "-l", "--format=%(taggername) %(taggeremail)", f"mltrack/{name}/*"
    )
    assert tagger.strip() == "Alice Liddell <alice@example.org>"


# ---------------------------------------------------------------------- TLS


def self_signed(directory: Path) -> tuple[Path, Path]:
    """(key, certificate) for 127.0.0.1 and localhost, valid for a day."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mltrack test")])
    now = dt.datetime.now(dt.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_file, cert_file = directory / "key.pem", directory / "cert.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return key_file, cert_file


TLS_CLIENT = """
import os, sys
import mlflow
from mlflow.exceptions import MlflowException

url, cert = sys.argv[1:]
client = mlflow.MlflowClient(url)
os.environ["MLFLOW_TRACKING_SERVER_CERT_PATH"] = cert
experiment = client.create_experiment("over-tls")
print("CA bundle:", client.get_experiment(experiment).name)
del os.environ["MLFLOW_TRACKING_SERVER_CERT_PATH"]
os.environ["MLFLOW_TRACKING_INSECURE_TLS"] = "true"
print("insecure:", client.get_experiment_by_name("over-tls").name)
del os.environ["MLFLOW_TRACKING_INSECURE_TLS"]
try:
    client.get_experiment(experiment)
    print("unverified server accepted")
except MlflowException as error:
    print("refused:", str(error).replace(chr(10), " "))
"""


def test_tls_with_a_ca_bundle_or_insecure_mode_and_refused_otherwise(tmp_path: Path) -> None:
    repo, home = make_repo(tmp_path)
    key, cert = self_signed(tmp_path)
    live = TrackingServer(
        repo,
        "--auth",
        "--ssl-keyfile",
        str(key),
        "--ssl-certfile",
        str(cert),
        home=home,
        env={"MLTRACK_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD},
    )
    try:
        assert live.url.startswith("https://")
        # The client runs in its own process: its idle TLS connections close when it exits,
        # so the server stops at once instead of waiting out their TLS shutdown.
        result = subprocess.run(
            [sys.executable, "-c", TLS_CLIENT, live.url, str(cert)],
            env={
                **child_env(home),
                "MLFLOW_DISABLE_TELEMETRY": "true",
                "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
                "MLFLOW_TRACKING_USERNAME": "admin",
                "MLFLOW_TRACKING_PASSWORD": ADMIN_PASSWORD,
                "PYTHONWARNINGS": "ignore",
            },
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert lines[:2] == ["CA bundle: over-tls", "insecure: over-tls"]
        assert re.search(r"(?i)certificate|ssl", lines[2])
    finally:
        live.stop()
