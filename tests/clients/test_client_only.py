"""A client-only install: `pip install altan-ledger` without the `server` extra.

A buyer or an auditor installs the clients alone. This test builds such an environment: a
fresh venv (`python -m venv`) holding the project's packages and exactly the distributions
that pyproject.toml's ``[project] dependencies`` need (their closure, linked from this
venv's site-packages: offline, and it fails as soon as a client imports a package the
base dependencies do not bring). In it:

- FastAPI, Starlette, SQLAlchemy, psycopg, Alembic and uvicorn cannot be imported;
- the SDK and every client module import, and `altan --help` lists the client commands;
- `altan verify` verifies a real certificate token offline against the pinned log key
  (and refuses one with a flipped signature byte);
- `altan audit http://127.0.0.1:PORT --key K` audits a real server (`altan serve`, a uvicorn
  subprocess from the full venv on an ephemeral loopback port), and `altan proof` fetches
  and verifies an offline proof bundle from it;
- the SDK records an event and verifies its receipt against the pinned key;
- `altan audit sqlite:///...` says that it needs the `server` extra (exit 2).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import httpx
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from ledger.certificate import parse_qr_text, token_text
from support.certificates import LAB, populate
from support.deploy import _serving
from support.domain import Api
from support.paths import REPO

pytestmark = pytest.mark.slow

REPO = REPO
ALTAN = str(Path(sys.executable).with_name("altan"))
SERVER_STACK = ("fastapi", "starlette", "sqlalchemy", "psycopg", "alembic", "uvicorn")


# -- the client-only venv -----------------------------------------------------------------------


def client_distributions() -> list[metadata.Distribution]:
    """The closure of pyproject's base dependencies, as installed in this venv."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    todo = [(Requirement(r), "") for r in project["dependencies"]]
    seen: dict[str, metadata.Distribution] = {}
    while todo:
        req, extra = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(req.name)
        if name not in seen:
            seen[name] = metadata.distribution(req.name)
        # a requirement's own extras (httpx[...]) bring their requirements too
        for sub in seen[name].requires or []:
            for wanted in ("", *req.extras):
                todo.append((Requirement(sub), wanted))
    return list(seen.values())


def top_level_entries(dist: metadata.Distribution) -> set[str]:
    """What a distribution put directly in site-packages (packages, modules, .libs, its
    .dist-info), from its RECORD; scripts outside site-packages are left out."""
    out = set()
    for file in dist.files or []:
        first = file.parts[0]
        if first != ".." and not first.endswith(".pth") and first != "__pycache__":
            out.add(first)
    return out


def build_client_venv(root: Path) -> Path:
    """A venv with the clients' distributions and the project's packages; its python."""
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=60
    )
    python = root / "bin" / "python"
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    for dist in client_distributions():
        base = Path(str(dist.locate_file("")))
        for entry in top_level_entries(dist):
            target = site / entry
            if not target.exists():
                target.symlink_to(base / entry)
    # The project's packages as its wheel holds them ([tool.setuptools.packages.find]):
    # services too, whose import fails without FastAPI (the CLI then leaves its commands out).
    src = root / "project"
    src.mkdir()
    for package in ("ledger", "clients", "schemas", "services"):
        (src / package).symlink_to(REPO / package)
    (site / "altan_ledger.pth").write_text(f"{src}\n", encoding="utf-8")
    script = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "scripts"
    ]["altan"]
    module, func = script.split(":")
    altan = root / "bin" / "altan"
    altan.write_text(
        f"#!{python}\nimport sys\nfrom {module} import {func}\nsys.exit({func}())\n",
        encoding="utf-8",
    )
    altan.chmod(0o755)
    return python


@dataclass
class ClientVenv:
    python: Path
    altan: Path
    env: dict[str, str]

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run `altan ARGS` in the client-only venv."""
        return subprocess.run(
            [str(self.altan), *args],
            env=self.env,
            cwd=self.altan.parent,  # not the checkout: its packages must come from the venv
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def script(self, code: str, *args: str) -> subprocess.CompletedProcess[str]:
        """Run Python code in the client-only venv."""
        return subprocess.run(
            [str(self.python), "-c", code, *args],
            env=self.env,
            cwd=self.python.parent,  # `-c` puts the working directory on sys.path
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> ClientVenv:
    root = tmp_path_factory.mktemp("client-only") / "venv"
    python = build_client_venv(root)
    env = {
        "PATH": f"{root / 'bin'}:/usr/bin:/bin",
        "HOME": str(root.parent),
        "XDG_STATE_HOME": str(root.parent / "state"),
        "NO_COLOR": "1",
        "COLUMNS": "200",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    return ClientVenv(python, root / "bin" / "altan", env)


# -- a real server, from the full venv ----------------------------------------------------------


@dataclass
class Server:
    base: str
    vkey: str
    admin: str
    token: str  # a genuine certificate token, bare (no URL, so nothing to fetch)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("server")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALTAN_")}
    env |= {"ALTAN_DATA_DIR": str(tmp / "data"), "ALTAN_ACCESS_LOG": "false"}

    def altan(*args: str) -> str:
        done = subprocess.run(
            [ALTAN, *args], env=env, capture_output=True, text=True, timeout=60, check=True
        )
        return done.stdout.strip().splitlines()[-1]

    with _serving(env, tmp / "server.log") as (base, _proc):
        admin = altan("init")
        vkey = altan("keys", "export")
        with httpx.Client(base_url=base, timeout=30) as client:
            w = populate(Api(client, admin))  # type: ignore[arg-type]
            w.gold("AU-1", 1_234_567)
            w.api.ok(LAB, "assay.recorded", {"lot": "AU-1", "fineness_ppt": 995})
            w.request("AU-1")
            token = token_text(parse_qr_text(w.latest_token("AU-1")))
        yield Server(base, vkey, admin, token)


# -- the tests ----------------------------------------------------------------------------------


def test_the_server_stack_cannot_be_imported_and_the_clients_can(venv: ClientVenv) -> None:
    done = venv.script(
        "import importlib, json, sys\n"
        "missing = []\n"
        f"for name in {SERVER_STACK!r}:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ModuleNotFoundError:\n"
        "        missing.append(name)\n"
        "import clients.sdk, clients.cli, clients.verify, clients.follow, clients.witness\n"
        "import clients.proof, clients.remote, clients.outbox, clients.report, clients.epcis\n"
        "import ledger.audit, ledger.trusted, ledger.certificate, ledger.evidence, ledger.keys\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules} & set("
        + repr(SERVER_STACK)
        + "))\n"
        "print(json.dumps({'missing': missing, 'loaded': loaded, 'sdk': clients.sdk.__file__}))\n"
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["missing"] == list(SERVER_STACK)
    assert out["loaded"] == []
    assert out["sdk"].startswith(str(venv.python.parent.parent))  # the venv's own copy

    usage = venv.run("--help")
    assert usage.returncode == 0, usage.stderr
    for command in ("verify", "audit", "witness", "evidence", "proof"):
        assert f" {command} " in usage.stdout, usage.stdout
    assert " serve " not in usage.stdout  # the server's commands need the server extra
    for command in ("witness", "evidence", "proof"):
        assert venv.run(command, "--help").returncode == 0


def test_verify_a_certificate_offline_against_the_pinned_key(
    venv: ClientVenv, server: Server
) -> None:
    # No server is named (a bare token) and any request would go to a closed proxy.
    offline = venv.env | {"ALL_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}
    genuine = subprocess.run(
        [str(venv.altan), "verify", server.token, "--key", server.vkey, "--json"],
        env=offline,
        cwd=venv.altan.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert genuine.returncode == 0, genuine.stdout + genuine.stderr
    verdict = json.loads(genuine.stdout)
    assert verdict["genuine"] is True and verdict["status"] == "unknown_offline", verdict
    assert "AU-1" in verdict["message"], verdict

    flipped = bytearray(parse_qr_text(server.token))
    flipped[-5] ^= 0x10  # a byte of the signature
    forged = venv.run("verify", token_text(bytes(flipped)), "--key", server.vkey)
    assert forged.returncode == 1, forged.stdout + forged.stderr


def test_audit_and_proof_of_a_real_server(venv: ClientVenv, server: Server) -> None:
    size = int(httpx.get(server.base + "/log/checkpoint").text.split("\n")[1])
    done = venv.run("audit", server.base, "--key", server.vkey, "--json", "--quiet")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is True
    assert report["entries_verified"] >= size

    bundle = venv.run("proof", server.base, "1", "--key", server.vkey)
    assert bundle.returncode == 0, bundle.stdout + bundle.stderr
    assert bundle.stdout  # the bundle, verified before it was written


def test_the_sdk_records_and_verifies_a_receipt(venv: ClientVenv, server: Server) -> None:
    done = venv.script(
        "import sys\n"
        "from clients.sdk import AltanClient\n"
        "from ledger.audit import keys_from_strings\n"
        "base, admin, vkey = sys.argv[1:]\n"
        "with AltanClient(base, admin) as client:\n"
        "    receipt = client.register_actor(actor='miner:client-only', role='miner')\n"
        "    cp = client.verify_receipt(receipt, trusted_keys=keys_from_strings([vkey]))\n"
        "print(receipt.index, cp.size)\n",
        server.base,
        server.admin,
        server.vkey,
    )
    assert done.returncode == 0, done.stderr
    index, size = map(int, done.stdout.split())
    assert 0 <= index < size


def test_auditing_a_database_asks_for_the_server_extra(venv: ClientVenv, tmp_path: Path) -> None:
    db = tmp_path / "altan.db"
    db.touch()
    done = venv.run("audit", f"sqlite:///{db}")
    assert done.returncode == 2
    assert "the 'server' extra of altan-ledger" in " ".join((done.stdout + done.stderr).split())
