"""Deployment: secrets from files, the configuration reference, `altan db`, the read replica,
`altan serve --workers`, and the deploy files themselves (Dockerfile, compose, Kubernetes,
systemd) parsed and checked for the properties that matter: non-root, probes on /healthz,
no plaintext secret, the image tag of this version.

What cannot run here (no Docker engine, no cluster, no running systemd) is checked with the
tools that work offline when they are installed: `docker compose config` (or docker-compose
v1), `kubectl kustomize`, `systemd-analyze verify`; each skips with a message otherwise.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import tomllib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from pydantic import ValidationError
from sqlalchemy.engine import make_url
from starlette.exceptions import StarletteDeprecationWarning
from typer.testing import CliRunner

from clients import cli
from ledger.sql.storage import make_engine
from services.app import create_app
from services.clock import utc_now
from services.config_reference import reference
from services.database import current_revision, head_revision
from services.settings import Settings, get_settings
from support.db import Database, database_url
from support.log import event

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient
from support.deploy import ALTAN, _free_port, _serving
from support.paths import REPO

ROOT = REPO
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
SETTINGS_VARS = {f"ALTAN_{name.upper()}" for name in Settings.model_fields}
SECRET_WORDS = re.compile(r"PASSWORD|PASSPHRASE|SECRET|TOKEN", re.IGNORECASE)
PLACEHOLDER = "REPLACE_ME"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No ALTAN_* from the caller's shell; settings re-read for each test."""
    for name in list(os.environ):
        if name.startswith("ALTAN_"):
            monkeypatch.delenv(name)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


# -- secrets from files ----------------------------------------------------------------------


def test_the_key_passphrase_comes_from_a_file_read_once(tmp_path: Path) -> None:
    secret = tmp_path / "key_passphrase"
    secret.write_text("correct horse battery\n")  # as `echo` writes it
    settings = Settings(key_passphrase_file=secret)
    assert settings.passphrase_bytes == b"correct horse battery"
    secret.write_text("changed later\n")
    assert settings.passphrase_bytes == b"correct horse battery"  # read once, at start
    for shown in (repr(settings), str(settings), settings.model_dump_json()):
        assert "correct horse" not in shown


def test_the_passphrase_file_satisfies_production(tmp_path: Path) -> None:
    secret = tmp_path / "key_passphrase"
    secret.write_text("s3cret-from-file")
    settings = Settings(
        environment="production", log_origin="ledger.example.mn/v1", key_passphrase_file=secret
    )
    assert settings.passphrase_bytes == b"s3cret-from-file"


def test_passphrase_and_its_file_together_are_refused(tmp_path: Path) -> None:
    secret = tmp_path / "key_passphrase"
    secret.write_text("from-the-file")
    with pytest.raises(ValidationError) as info:
        Settings(key_passphrase="from-the-env", key_passphrase_file=secret)
    message = str(info.value)
    assert "ALTAN_KEY_PASSPHRASE or ALTAN_KEY_PASSPHRASE_FILE, not both" in message
    assert "from-the-env" not in message and "from-the-file" not in message


@pytest.mark.parametrize(
    ("content", "expected"),
    [(None, "cannot read"), (b"", "is empty"), (b"\n", "is empty"), (b"\xff\xfe", "UTF-8")],
)
def test_unusable_passphrase_files_are_refused_by_name(
    tmp_path: Path, content: bytes | None, expected: str
) -> None:
    secret = tmp_path / "key_passphrase"
    if content is not None:
        secret.write_bytes(content)
    with pytest.raises(ValidationError) as info:
        Settings(key_passphrase_file=secret)
    assert "ALTAN_KEY_PASSPHRASE_FILE" in str(info.value)
    assert expected in str(info.value)


def test_a_refused_setting_never_prints_the_passphrase_back() -> None:
    # The default origin is refused in production; the message must not list the inputs.
    with pytest.raises(ValidationError) as info:
        Settings(environment="production", key_passphrase="do-not-print-me")
    assert "ALTAN_LOG_ORIGIN" in str(info.value)
    assert "do-not-print-me" not in str(info.value)


def test_the_process_reads_the_passphrase_file_and_encrypts_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "key_passphrase"
    secret.write_text("a long passphrase\n")
    monkeypatch.setenv("ALTAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ALTAN_KEY_PASSPHRASE_FILE", str(secret))
    code, out, err = altan("keys", "create")
    assert code == 0, out + err
    assert out.startswith("altan.localhost/ledger+")
    [pem] = (tmp_path / "data" / "keys").glob("*.pem")
    assert b"BEGIN ENCRYPTED PRIVATE KEY" in pem.read_bytes()
    # the same passphrase from the environment opens it (the final newline was dropped)
    monkeypatch.delenv("ALTAN_KEY_PASSPHRASE_FILE")
    monkeypatch.setenv("ALTAN_KEY_PASSPHRASE", "a long passphrase")
    get_settings.cache_clear()
    code, again, err = altan("keys", "create")
    assert code == 0, again + err
    assert again == out and "kept the existing key" in err


def test_the_database_password_comes_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "db_password"
    secret.write_text("p@ss/w:rd\n")
    settings = Settings(
        database_url="postgresql+psycopg://altan@db:5432/altan", database_password_file=secret
    )
    url = make_url(settings.resolved_database_url)
    assert url.password == "p@ss/w:rd" and url.host == "db" and url.username == "altan"
    assert "p@ss" not in settings.display_database_url
    assert "p@ss" not in repr(settings)


@pytest.mark.parametrize(
    ("database", "expected"),
    [
        (None, "needs ALTAN_DATABASE_URL"),
        ("sqlite:///var/altan.db", "needs ALTAN_DATABASE_URL"),
        ("postgresql://altan:inline@db/altan", "expected one of them"),
    ],
)
def test_database_password_file_conflicts_are_refused(
    tmp_path: Path, database: str | None, expected: str
) -> None:
    secret = tmp_path / "db_password"
    secret.write_text("from-file")
    with pytest.raises(ValidationError) as info:
        Settings(database_url=database, database_password_file=secret)
    assert expected in str(info.value)
    assert "inline" not in str(info.value) and "from-file" not in str(info.value)


# -- the configuration reference --------------------------------------------------------------


def test_every_setting_is_documented_in_the_configuration_reference() -> None:
    text = (DEPLOY / "CONFIGURATION.md").read_text()
    missing = [v for v in sorted(SETTINGS_VARS) if f"`{v}`" not in text]
    assert not missing, f"not in deploy/CONFIGURATION.md: {missing}"
    undocumented = [n for n, f in Settings.model_fields.items() if not f.description]
    assert not undocumented, f"give these settings a description: {undocumented}"


def test_the_configuration_reference_is_generated_from_the_settings() -> None:
    assert (DEPLOY / "CONFIGURATION.md").read_text() == reference(), (
        "deploy/CONFIGURATION.md is stale: "
        "run `python -m services.config_reference > deploy/CONFIGURATION.md`"
    )


# -- altan db upgrade / current ---------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def _server_commands() -> None:
    if not any(c.name == "serve" for c in cli.app.registered_commands):
        cli._attach_server_commands()


def altan(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli.app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, " ".join(result.stderr.split())


def test_db_upgrade_brings_a_new_database_to_head_and_twice_is_a_no_op(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = database_url(database)
    monkeypatch.setenv("ALTAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ALTAN_DATABASE_URL", url)
    head = head_revision()
    assert current_revision(database.engine) is None

    code, out, err = altan("db", "current", "--check")
    assert code == 1, out + err
    assert "current: none" in out and f"head: {head}" in out
    assert "altan db upgrade" in err

    code, out, err = altan("db", "upgrade")
    assert code == 0, out + err
    assert f"current: {head}\nhead: {head}\nupgraded from none" in out
    assert current_revision(database.engine) == head

    code, out, err = altan("db", "upgrade")
    assert code == 0, out + err
    assert f"current: {head}\nhead: {head}\nnothing to do" in out

    code, out, err = altan("db", "current", "--check")
    assert code == 0, out + err
    assert f"current: {head}" in out


def test_db_commands_never_print_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "db_password"
    secret.write_text("hunter2-secret")
    # an unreachable server: the command fails, and its message must not show the password
    monkeypatch.setenv("ALTAN_DATABASE_URL", f"postgresql+psycopg://altan@127.0.0.1:{_closed()}/x")
    monkeypatch.setenv("ALTAN_DATABASE_PASSWORD_FILE", str(secret))
    result = CliRunner().invoke(cli.app, ["db", "current"])
    assert result.exit_code != 0
    assert "hunter2" not in result.stdout + result.stderr + repr(result.exception)


def test_db_current_on_a_missing_sqlite_file_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    monkeypatch.setenv("ALTAN_DATA_DIR", str(data))
    code, out, _ = altan("db", "current")
    assert code == 0 and "current: none" in out
    assert not data.exists()


def test_starting_the_service_on_a_new_database_migrates_it(
    database: Database, tmp_path: Path
) -> None:
    """What `make serve` does on a fresh machine: the app migrates at start-up."""
    url, _ = database_url(database)
    assert current_revision(database.engine) is None
    with TestClient(create_app(Settings(data_dir=tmp_path / "data", database_url=url))) as c:
        assert c.get("/healthz").json() == {"status": "ok", "tree_size": 0}
    assert current_revision(database.engine) == head_revision()


# -- the read replica -------------------------------------------------------------------------


def _copy_sqlite(source: Path, target: Path) -> None:
    """A consistent copy (the WAL included): what a replica holds at one moment."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


def test_reads_and_proofs_go_to_the_read_replica_writes_to_the_primary(tmp_path: Path) -> None:
    data, primary, replica = tmp_path / "data", tmp_path / "primary.db", tmp_path / "replica.db"
    cfg = Settings(data_dir=data, database_url=f"sqlite:///{primary}")
    with TestClient(create_app(cfg)) as c:
        state = c.app.state  # type: ignore[attr-defined]
        assert state.read_log is state.log  # no replica: one engine
        state.log.append([event(i) for i in range(3)], utc_now())
    _copy_sqlite(primary, replica)  # the replica, 3 entries in

    cfg = Settings(
        data_dir=data,
        database_url=f"sqlite:///{primary}",
        read_database_url=f"sqlite:///{replica}",
    )
    with TestClient(create_app(cfg)) as c:
        state = c.app.state  # type: ignore[attr-defined]
        assert state.read_log.engine is not state.log.engine
        state.log.append([event(i) for i in range(3, 8)], utc_now())  # appends: the primary
        assert c.get("/healthz").json()["tree_size"] == 8  # health: the primary
        assert c.get("/log/checkpoint").text.split("\n")[1] == "3"  # reads: the replica
        assert len(c.get("/log/entries", params={"start": 0, "end": 8}).json()["entries"]) == 3
        assert c.get("/log/proof/inclusion", params={"index": 2, "tree_size": 3}).status_code == 200
        far = c.get("/log/proof/inclusion", params={"index": 5, "tree_size": 8})
        assert far.status_code == 400  # beyond what the replica has seen
        assert c.get("/log/proof/bundle", params={"index": 5}).status_code == 400
        assert c.get("/log/keys").status_code == 200
        assert c.get("/log/witnesses").json() == {"witnesses": []}
    assert _size(replica) == 3 and _size(primary) == 8  # nothing was written to the replica


def _size(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT size FROM log_head").fetchone()[0])


# -- altan serve --workers --------------------------------------------------------------------


def _closed() -> int:
    return _free_port()  # nothing listens there once the socket is closed


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with (task / "children").open() as f:
            found |= {int(p) for p in f.read().split()}
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.slow
def test_serve_with_workers_keeps_one_gapless_log_and_stops_on_sigterm(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALTAN_")}
    env |= {
        "ALTAN_DATA_DIR": str(data),
        "ALTAN_ACCESS_LOG": "false",
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }
    log = tmp_path / "server.log"
    with _serving(env, log, "--workers", "2") as (base, server):
        workers = _children(server.pid)
        assert len(workers) >= 2, log.read_text()  # uvicorn's process manager and 2 workers
        # a new database: migrated at start-up
        engine = make_engine(f"sqlite:///{data / 'altan.db'}")
        assert current_revision(engine) == head_revision()
        engine.dispose()

        init = subprocess.run(
            [ALTAN, "init"], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert init.returncode == 0, init.stderr
        token = init.stdout.strip().splitlines()[-1]
        assert token.startswith("altan_")

        errors: list[str] = []

        def register(thread: int) -> None:
            with httpx.Client(base_url=base, timeout=30) as client:
                for i in range(10):
                    resp = client.post(
                        "/events",
                        headers={"Authorization": f"Bearer {token}"},
                        json={
                            "type": "actor.registered",
                            "body": {
                                "occurred_at": "2026-09-14T10:12:00+08:00",
                                "actor": f"miner:w{thread}-{i}",
                                "role": "miner",
                            },
                        },
                    )
                    if resp.status_code != 201:
                        errors.append(f"{resp.status_code} {resp.text}")

        threads = [threading.Thread(target=register, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors, errors[:3]

        size = int(httpx.get(base + "/log/checkpoint").text.split("\n")[1])
        entries: list[dict[str, Any]] = []
        while len(entries) < size:
            page = httpx.get(
                base + "/log/entries", params={"start": len(entries), "end": size}
            ).json()["entries"]
            assert page
            entries += page
        assert [e["index"] for e in entries] == list(range(size))
        previous = base64.b64encode(bytes(32)).decode()
        for e in entries:
            body = json.loads(base64.b64decode(e["entry"]))
            assert body["index"] == e["index"] and body["prev"] == previous
            previous = e["leaf_hash"]
        # the first administrator, then every registration once; each append (the workers'
        # group commits batch them as they come) ends with its state.root, the last one too
        types = [json.loads(base64.b64decode(e["entry"]))["type"] for e in entries]
        assert len([t for t in types if t != "state.root"]) == 1 + 40
        assert types[-1] == "state.root"

        vkey = subprocess.run(
            [ALTAN, "keys", "export"], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()
        audit = subprocess.run(
            [ALTAN, "audit", base, "--key", vkey, "--no-state"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert audit.returncode == 0, audit.stdout + audit.stderr
        assert audit.stdout.startswith("OK ")

        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pytest.fail(f"not stopped 20 s after SIGTERM:\n{log.read_text()}")
        assert server.returncode == 0, log.read_text()
    waited = 0.0
    while any(_alive(w) for w in workers) and waited < 5:
        time.sleep(0.1)
        waited += 0.1
    assert not any(_alive(w) for w in workers), "a worker outlived the server"
    assert "Finished server process" in log.read_text()


# -- the deploy files -------------------------------------------------------------------------


def _yaml(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _k8s() -> dict[tuple[str, str], dict[str, Any]]:
    docs: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in _yaml(path):
            if "kind" in doc and doc["kind"] != "Kustomization":
                docs[(doc["kind"], doc["metadata"]["name"])] = doc
    return docs


def _pod_specs() -> list[dict[str, Any]]:
    docs = _k8s()
    return [
        docs[("Deployment", "altan-ledger")]["spec"]["template"]["spec"],
        docs[("Job", "altan-ledger-init")]["spec"]["template"]["spec"],
    ]


def _containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod.get("initContainers", []), *pod["containers"]]


def test_k8s_deployment_runs_three_probed_replicas() -> None:
    deployment = _k8s()[("Deployment", "altan-ledger")]
    assert deployment["spec"]["replicas"] == 3
    pod = deployment["spec"]["template"]["spec"]
    [ledger] = pod["containers"]
    assert ledger["args"] == ["serve"]
    port = {p["name"]: p["containerPort"] for p in ledger["ports"]}
    assert port == {"http": 8000}
    # liveness asks the process, readiness the database (issue 11, finding 7)
    for probe, path in (
        ("readinessProbe", "/readyz"),
        ("livenessProbe", "/livez"),
        ("startupProbe", "/livez"),
    ):
        assert ledger[probe]["httpGet"] == {"path": path, "port": "http"}, probe
    assert ledger["resources"]["requests"]["cpu"] and ledger["resources"]["requests"]["memory"]
    assert ledger["resources"]["limits"]["memory"]
    service = _k8s()[("Service", "altan-ledger")]
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()


def test_k8s_pods_run_as_non_root_on_a_read_only_root() -> None:
    for pod in _pod_specs():
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001
        assert pod["automountServiceAccountToken"] is False
        mounts_of = {
            c["name"]: {m["mountPath"]: m for m in c.get("volumeMounts", [])}
            for c in _containers(pod)
        }
        for container in _containers(pod):
            sc = container["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, container["name"]
            assert sc["allowPrivilegeEscalation"] is False, container["name"]
            assert sc["capabilities"]["drop"] == ["ALL"], container["name"]
            assert container["resources"]["limits"]["memory"], container["name"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        for name, mounts in mounts_of.items():
            if name == "log-keys":
                continue  # copies the keys only, with `sh`
            # a writable /tmp and data directory on emptyDir volumes, nothing else writable
            assert "emptyDir" in volumes[mounts["/tmp"]["name"]], name
            assert "emptyDir" in volumes[mounts["/var/lib/altan"]["name"]], name


def test_k8s_every_replica_mounts_the_same_log_keys_read_only() -> None:
    config = _k8s()[("ConfigMap", "altan-ledger")]["data"]
    data_dir = config["ALTAN_DATA_DIR"]
    for pod in _pod_specs():
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["log-keys"]["secret"]["secretName"] == "altan-log-keys"
        [copy] = [c for c in pod["initContainers"] if c["name"] == "log-keys"]
        assert pod["initContainers"][0] is copy  # before anything reads the keys
        [mount] = [m for m in copy["volumeMounts"] if m["name"] == "log-keys"]
        assert mount["readOnly"] is True
        script = " ".join(copy["command"])
        # strict: a Secret without keys.json or a .pem file fails the pod, no key is invented
        assert f"{mount['mountPath']}/keys.json" in script
        assert f"{mount['mountPath']}/*.pem" in script
        assert '"$ALTAN_DATA_DIR/keys"' in script and "-m 0700" in script
        assert "-m 0600" in script
        assert data_dir.startswith("/var/lib/altan/")  # inside the emptyDir, owned by 10001


def test_k8s_images_carry_this_version_tag() -> None:
    for pod in _pod_specs():
        for container in _containers(pod):
            image = container["image"]
            assert image.rsplit(":", 1)[1] == VERSION, image
            assert container["imagePullPolicy"] == "IfNotPresent"


def test_k8s_holds_no_plaintext_secret() -> None:
    docs = _k8s()
    config = docs[("ConfigMap", "altan-ledger")]["data"]
    assert set(config) <= SETTINGS_VARS, set(config) - SETTINGS_VARS  # no typo goes unseen
    for name, value in config.items():
        assert not SECRET_WORDS.search(name) or name.endswith("_FILE"), name
        assert "://" not in value or make_url(value).password is None, name
    assert "ALTAN_DATABASE_URL" not in config
    for pod in _pod_specs():
        for container in _containers(pod):
            for env in container.get("env", []):
                assert "value" not in env, env  # every env entry comes from a Secret
                assert env["valueFrom"]["secretKeyRef"]["name"] == "altan-ledger"
    secret = docs[("Secret", "altan-ledger")]
    assert set(secret["stringData"]) == {"database-url", "key-passphrase"}
    for value in secret["stringData"].values():
        assert PLACEHOLDER in value
    assert make_url(secret["stringData"]["database-url"]).password == PLACEHOLDER


def test_k8s_kustomization_never_applies_the_secret_template_or_the_job() -> None:
    [kustomization] = _yaml(K8S / "kustomization.yaml")
    resources = kustomization["resources"]
    assert all((K8S / r).is_file() for r in resources)
    assert "secret.example.yaml" not in resources and "job-init.yaml" not in resources


def test_k8s_job_migrates_then_initialises() -> None:
    job = _k8s()[("Job", "altan-ledger-init")]
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert [c.get("args") for c in _containers(pod)] == [None, ["db", "upgrade"], ["init"]]


def test_k8s_kustomize_builds_offline() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: `kubectl kustomize deploy/k8s` not run")
    out = subprocess.run(
        [kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr
    kinds = sorted(d["kind"] for d in yaml.safe_load_all(out.stdout) if d)
    assert kinds == ["ConfigMap", "Deployment", "PodDisruptionBudget", "Service"]


def _dockerfile() -> list[str]:
    """Instructions, continuation lines joined, comments dropped."""
    text = (DEPLOY / "Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


def test_dockerfile_is_multi_stage_non_root_and_health_checked() -> None:
    lines = _dockerfile()
    froms = [ln for ln in lines if ln.startswith("FROM ")]
    assert len(froms) == 2 and froms[0].endswith(" AS builder")
    assert froms[0].split()[1] == froms[1].split()[1]  # the venv's python is at the same path
    runtime = lines[lines.index(froms[1]) :]
    assert any(ln.startswith("COPY --from=builder /opt/venv /opt/venv") for ln in runtime)
    assert not any(ln.startswith("COPY") and "--from" not in ln for ln in runtime)  # venv only
    [user] = [ln for ln in runtime if ln.startswith("USER ")]
    assert user == "USER 10001:10001"
    [health] = [ln for ln in runtime if ln.startswith("HEALTHCHECK ")]
    assert "/readyz" in health and "urllib.request" in health
    assert "EXPOSE 8000" in runtime
    assert any(ln.startswith("ENV ") and "ALTAN_HOST=0.0.0.0" in ln for ln in runtime)
    assert 'VOLUME ["/var/lib/altan"]' in runtime
    assert runtime[-2:] == ['ENTRYPOINT ["altan"]', 'CMD ["serve"]']
    assert any("pip install --no-deps --no-build-isolation ." in ln for ln in lines)


def test_the_healthcheck_command_works_against_a_server(tmp_path: Path) -> None:
    [health] = [ln for ln in _dockerfile() if ln.startswith("HEALTHCHECK ")]
    command = json.loads(health.split(" CMD ", 1)[1])
    assert command[:2] == ["python", "-c"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALTAN_")}
    env["ALTAN_DATA_DIR"] = str(tmp_path / "data")
    with _serving(env, tmp_path / "server.log") as (base, _):
        env["ALTAN_PORT"] = base.rsplit(":", 1)[1]
        ok = subprocess.run([sys.executable, "-c", command[2]], env=env, timeout=30, check=False)
        assert ok.returncode == 0
    env["ALTAN_PORT"] = str(_closed())
    down = subprocess.run(
        [sys.executable, "-c", command[2]], env=env, capture_output=True, timeout=30, check=False
    )
    assert down.returncode != 0


def test_dockerignore_sends_only_the_sources() -> None:
    patterns = [
        ln.strip()
        for ln in (ROOT / ".dockerignore").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    assert patterns[0] == "*"  # everything out, then the allow-list
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    assert allowed == {
        "pyproject.toml",
        "requirements.lock",
        "README.md",
        "ledger",
        "schemas",
        "services",
        "clients",
    }
    sources = {
        ln.split()[1].rstrip("/").removeprefix("./")
        for ln in _dockerfile()
        if ln.startswith("COPY ") and "--from" not in ln
    }
    assert sources <= allowed
    for secret in ("**/*.pem", "**/*.key", "**/keys/", "**/*.db"):
        assert secret in patterns


# -- the lock files (make lock) ---------------------------------------------------------------

DEV_LOCK, IMAGE_LOCK = "requirements-dev.lock", "requirements.lock"


def _lock(name: str) -> dict[str, tuple[str, list[str]]]:
    """A lock file as {normalised name: (version, sha256 hashes)}; a pin starts at column 0."""
    pins: dict[str, tuple[str, list[str]]] = {}
    for block in re.split(r"\n(?=\S)", (ROOT / name).read_text()):
        if block.startswith("#") or not block.strip():
            continue
        pin = block.split()[0]
        assert re.fullmatch(r"[A-Za-z0-9._-]+==[^=;]+", pin), f"{name}: not an exact pin: {pin}"
        project, version = pin.split("==")
        hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", block)
        pins[canonicalize_name(project)] = (version, hashes)
    return pins


def _requirements(*extras: str) -> list[Requirement]:
    """pyproject.toml's requirements: the build backend, the dependencies, the extras named."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    lines = [*pyproject["build-system"]["requires"], *pyproject["project"]["dependencies"]]
    for extra in extras:
        lines += pyproject["project"]["optional-dependencies"][extra]
    own = canonicalize_name(pyproject["project"]["name"])
    return [r for r in map(Requirement, lines) if canonicalize_name(r.name) != own]


def test_the_locks_pin_every_requirement_of_pyproject_with_hashes() -> None:
    """A dependency added to pyproject.toml without `make lock` fails here (and in `make
    install`'s pip check); so does a floor raised above the locked version."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    dev, image = _lock(DEV_LOCK), _lock(IMAGE_LOCK)
    for name, lock, wanted in (
        (DEV_LOCK, dev, [*_requirements(*extras), *map(Requirement, ["pip", "uv"])]),
        (IMAGE_LOCK, image, [*_requirements("server"), Requirement("pip")]),
    ):
        for project, (version, hashes) in lock.items():
            assert hashes, f"{name}: {project}=={version} has no hash"
        for requirement in wanted:
            project = canonicalize_name(requirement.name)
            assert project in lock, f"{name} lacks {requirement}: run `make lock`"
            version = lock[project][0]
            assert requirement.specifier.contains(version, prereleases=True), (
                f"{name} pins {project}=={version}, pyproject.toml wants {requirement}"
            )
    # The image's lock is the development lock cut down: same versions, same files.
    for project, pinned in image.items():
        assert dev.get(project) == pinned, f"{project}: {IMAGE_LOCK} and {DEV_LOCK} differ"
    assert not {"pytest", "ruff", "mypy", "import-linter", "uv"} & set(image)


def test_the_image_installs_exactly_the_locked_dependencies() -> None:
    lines = _dockerfile()
    builder = lines[: [i for i, ln in enumerate(lines) if ln.startswith("FROM ")][1]]
    installs = [ln for ln in builder if "pip install" in ln or "pip wheel" in ln]
    assert f"COPY {IMAGE_LOCK} ./" in builder
    assert installs[0] == f"RUN /opt/venv/bin/pip install --require-hashes -r {IMAGE_LOCK}"
    assert builder.index(f"COPY {IMAGE_LOCK} ./") < builder.index(installs[0])
    # Everything else the image installs is the project alone, built by the locked setuptools.
    for ln in installs[1:]:
        assert "pip install --no-deps --no-build-isolation ." in ln and "pip wheel" not in ln
        assert "pip check" in ln


def test_make_install_and_ci_install_exactly_the_locked_versions() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert f"LOCK := {DEV_LOCK}" in makefile
    assert "$(STAMP): $(LOCK) pyproject.toml" in makefile  # a new lock reinstalls
    [rule] = re.findall(r"^\$\(STAMP\):.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    installs = [ln.strip() for ln in rule.splitlines() if "pip install" in ln]
    assert installs == [
        "$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)",
        "$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .",
    ]
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert "make install" in ci and ci.index("make install") < ci.index("make lint")


def _compose() -> dict[str, Any]:
    [doc] = _yaml(DEPLOY / "compose.yaml")
    return doc


def test_compose_waits_for_a_healthy_postgres_15_and_reads_secrets_from_files() -> None:
    doc = _compose()
    db, ledger = doc["services"]["db"], doc["services"]["ledger"]
    assert db["image"] == "postgres:15"
    assert "pg_isready" in db["healthcheck"]["test"]
    assert db["volumes"] == ["pgdata:/var/lib/postgresql/data"] and "pgdata" in doc["volumes"]
    assert ledger["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert ledger["image"] == f"altan-ledger:{VERSION}"
    assert ledger["build"]["dockerfile"] == "deploy/Dockerfile"
    assert ledger["read_only"] is True and ledger["cap_drop"] == ["ALL"]
    for name, secret in doc["secrets"].items():
        assert set(secret) == {"file"}, name
        assert secret["file"].startswith("./secrets/"), name
    environment = ledger["environment"]
    assert set(environment) <= SETTINGS_VARS, set(environment) - SETTINGS_VARS
    assert environment["ALTAN_KEY_PASSPHRASE_FILE"] == "/run/secrets/key_passphrase"
    assert environment["ALTAN_DATABASE_PASSWORD_FILE"] == "/run/secrets/db_password"
    assert set(ledger["secrets"]) == {"key_passphrase", "db_password"}
    assert db["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/db_password"
    for service in doc["services"].values():
        for name in service.get("environment", {}):
            assert not SECRET_WORDS.search(name) or name.endswith("_FILE"), name
    assert make_url(environment["ALTAN_DATABASE_URL"]).password is None


def _compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run(
            [docker, "compose", "version"], capture_output=True, timeout=30, check=False
        )
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_compose_config_parses() -> None:
    command = _compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor docker-compose is installed")
    env = {
        **os.environ,
        "ALTAN_LOG_ORIGIN": "ledger.example.mn/v1",
        "ALTAN_PUBLIC_URL": "https://l.mn",
    }
    text = (DEPLOY / "compose.yaml").read_text()
    if command[0].endswith("docker-compose"):
        # Compose v1 predates the top-level `name`; it checks the rest of the file as well.
        text = re.sub(r"(?m)^name: .*\n", "", text)
    result = subprocess.run(
        [*command, "-f", "-", "--project-directory", str(DEPLOY), "config", "--quiet"],
        input=text,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    # a missing ALTAN_LOG_ORIGIN is an error, not a silently default origin
    env.pop("ALTAN_LOG_ORIGIN")
    result = subprocess.run(
        [*command, "-f", "-", "--project-directory", str(DEPLOY), "config", "--quiet"],
        input=text,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0 and "ALTAN_LOG_ORIGIN" in result.stderr


def _unit() -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in (DEPLOY / "altan-ledger.service").read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


def test_systemd_unit_is_sandboxed_and_reads_the_passphrase_as_a_credential() -> None:
    unit = _unit()
    assert unit["User"] == ["altan"] and unit["Group"] == ["altan"]
    for key, value in {
        "NoNewPrivileges": "true",
        "ProtectSystem": "strict",
        "ProtectHome": "true",
        "PrivateTmp": "true",
        "PrivateDevices": "true",
        "CapabilityBoundingSet": "",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
        "SystemCallFilter": "@system-service",
        "StateDirectory": "altan-ledger",
        "StateDirectoryMode": "0700",
        "UMask": "0077",
        "KillMode": "mixed",
    }.items():
        assert unit[key] == [value], key
    assert unit["LoadCredential"] == ["key_passphrase:/etc/altan-ledger/key_passphrase"]
    assert unit["Environment"] == ["ALTAN_KEY_PASSPHRASE_FILE=%d/key_passphrase"]
    assert unit["ExecStart"] == ["/opt/altan-ledger/.venv/bin/altan serve"]


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    unit = tmp_path / "altan-ledger.service"
    text = (DEPLOY / "altan-ledger.service").read_text()
    unit.write_text(text.replace("/opt/altan-ledger/.venv/bin/altan", ALTAN))
    result = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    for complaint in ("Unknown key", "Unknown section", "Invalid", "Failed to parse service"):
        assert complaint not in result.stderr, result.stderr


def test_env_example_names_only_settings_and_no_secret() -> None:
    names = [
        ln.split("=", 1)[0]
        for ln in (DEPLOY / "env.example").read_text().splitlines()
        if ln and not ln.startswith("#")
    ]
    assert set(names) <= SETTINGS_VARS, set(names) - SETTINGS_VARS
    assert not any(SECRET_WORDS.search(n) for n in names)
