"""Observability through real HTTP on the app: request ids, JSON log lines, redaction of
secrets and personal data, Prometheus metrics."""

from __future__ import annotations

import json
import logging
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.exceptions import StarletteDeprecationWarning

from ledger.commitment import commit, new_salt
from services.app import create_app
from services.observability import RedactSecrets
from services.settings import Settings
from support.domain import WHEN, Api, running_api

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

PASSPHRASE = "correct horse battery staple 2009"
METRICS_TOKEN = "scrape-me-9f2c1d7e5a"
PEM = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIJ0AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"
    "-----END PRIVATE KEY-----"
)


def json_lines(err: str) -> list[dict[str, Any]]:
    """Every line on stderr, each of which must be one JSON object."""
    out = []
    for line in err.splitlines():
        if not line.strip():
            continue
        record = json.loads(line)  # fails the test on a line that is not JSON
        assert isinstance(record, dict), line
        out.append(record)
    return out


def access_lines(err: str) -> list[dict[str, Any]]:
    return [r for r in json_lines(err) if r["logger"] == "altan.access"]


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with running_api(tmp_path, log_format="json", access_log=True) as api:
        yield api


# -- request ids and log lines ---------------------------------------------------------------


def test_a_sane_request_id_is_echoed_and_in_the_log_line(
    api: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    resp = api.client.get("/log/checkpoint", headers={"X-Request-ID": "scan-42.A_b-c"})
    assert resp.status_code == 200
    assert resp.headers["x-request-id"] == "scan-42.A_b-c"
    (line,) = access_lines(capsys.readouterr().err)
    assert line["request_id"] == "scan-42.A_b-c"
    assert line["method"] == "GET" and line["path"] == "/log/checkpoint"
    assert line["route"] == "/log/checkpoint" and line["status"] == 200


@pytest.mark.parametrize(
    "given", ["x" * 65, "has space", "semi;colon", "ünïcode", "new\\nline", "<script>"]
)
def test_an_insane_request_id_is_replaced(
    api: Api, capsys: pytest.CaptureFixture[str], given: str
) -> None:
    capsys.readouterr()
    resp = api.client.get("/healthz", headers={"X-Request-ID": given.encode("utf-8")})
    made = resp.headers["x-request-id"]
    assert made != given and re.fullmatch(r"[0-9a-f]{16}", made)
    (line,) = access_lines(capsys.readouterr().err)
    assert line["request_id"] == made


def test_every_request_gets_its_own_id(api: Api) -> None:
    ids = {api.client.get("/healthz").headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5


def test_log_lines_are_json_with_the_fields(api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    api.register("centre:bornuur", "processing_centre")
    capsys.readouterr()
    api.client.get("/log/entries?start=0&end=1")
    recorded = api.post(
        "centre:bornuur",
        "actor.registered",
        {"actor": "miner:x", "role": "miner"},
    )
    assert recorded.status_code == 403  # a centre registers nobody; still logged with its actor
    api.client.get("/lots/ORE-NOPE", headers=api.headers("admin:root"))
    err = capsys.readouterr().err
    records = json_lines(err)
    for r in records:
        assert {"timestamp", "level", "logger", "message", "request_id"} <= set(r)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", r["timestamp"])
    entries, event, lot = access_lines(err)
    # query values never reach the log, only their keys
    assert entries["path"] == "/log/entries" and entries["query_keys"] == ["start", "end"]
    server = [r for r in records if r["logger"] != "httpx"]  # httpx: the test's own client
    assert not any("start=0" in json.dumps(r) or "end=1" in json.dumps(r) for r in server)
    assert "actor" not in entries
    assert isinstance(entries["duration_ms"], float | int) and entries["duration_ms"] >= 0
    assert event["actor"] == "centre:bornuur" and event["status"] == 403
    assert event["route"] == "/events" and event["method"] == "POST"
    assert lot["actor"] == "admin:root" and lot["status"] == 404
    assert lot["route"] == "/lots/{lot_id}" and lot["path"] == "/lots/ORE-NOPE"
    assert {r["level"] for r in (entries, event, lot)} == {"INFO"}


def test_text_format_in_development(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with running_api(tmp_path) as api:  # development: text unless told otherwise
        capsys.readouterr()
        rid = api.client.get("/healthz").headers["x-request-id"]
        err = capsys.readouterr().err
    (line,) = [x for x in err.splitlines() if "altan.access" in x]
    assert f"[{rid}] GET /healthz 200" in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_no_access_line_when_it_is_off(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with running_api(tmp_path, log_format="json", access_log=False) as api:
        capsys.readouterr()
        assert api.client.get("/healthz").headers["x-request-id"]
        assert access_lines(capsys.readouterr().err) == []


def test_the_app_leaves_logging_as_it_found_it(tmp_path: Path) -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    with running_api(tmp_path, log_format="json"):
        assert len(root.handlers) == len(handlers) + 1
    assert root.handlers == handlers and root.level == level


# -- secrets and personal data never reach the log -------------------------------------------


def test_secrets_and_personal_data_never_reach_the_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    personal = {"name": "Батбаяр Дорж", "national_id": "УБ99112233", "phone": "+976 9911 2233"}
    salt = new_salt()
    cfg = Settings(
        data_dir=tmp_path / "data",
        log_format="json",
        key_passphrase=PASSPHRASE,
        metrics=True,
        metrics_token=METRICS_TOKEN,
    )
    app = create_app(cfg)

    @app.get("/test-only/boom")
    def boom() -> None:
        # a careless log call and a failure whose message holds secrets
        logging.getLogger("services.careless").warning(
            "debugging %s with %s and key %s", admin, f"Bearer {admin}", PEM
        )
        try:
            raise RuntimeError(f"failed for token {admin}, passphrase={PASSPHRASE}")
        except RuntimeError:  # as uvicorn logs an unhandled error, traceback and all
            logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
            raise

    from services.actors.bootstrap import bootstrap_administrator

    with TestClient(app, raise_server_exceptions=False) as client:
        admin = bootstrap_administrator(app.state.events)
        assert admin is not None
        api = Api(client, admin)
        api.register("centre:bornuur", "processing_centre")
        centre = api.tokens["centre:bornuur"]
        bad = "altan_" + "Z" * 43
        resp = api.post(
            "admin:root",
            "actor.registered",
            {"actor": "miner:bat", "role": "miner", "personal_commitment": commit(salt, personal)},
            private={"personal": personal, "salt": salt.hex()},
        )
        assert resp.status_code == 201, resp.text
        # the wrong personal data: refused, with the data in the request
        wrong = {**personal, "name": "Дорж Батбаяр"}
        resp = api.post(
            "admin:root",
            "actor.registered",
            {"actor": "miner:dorj", "role": "miner", "personal_commitment": commit(salt, personal)},
            private={"personal": wrong, "salt": salt.hex()},
        )
        assert resp.status_code == 422
        # bad tokens: in the header, in a body, in a query string, in a path
        assert client.get("/lots/x", headers={"Authorization": f"Bearer {bad}"}).status_code == 401
        resp = client.post(
            "/events",
            json={"type": "actor.registered", "body": {"occurred_at": WHEN, "note": bad}},
            headers={"Authorization": f"Bearer {centre}"},
        )
        assert resp.status_code in (403, 422)
        client.get(f"/log/entries?start=0&end=1&token={bad}&passphrase={PASSPHRASE}")
        client.get(f"/c/{bad}")
        assert client.get("/metrics").status_code == 401
        ok = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert ok.status_code == 200
        failed = client.get("/test-only/boom", headers={"Authorization": f"Bearer {admin}"})
        assert failed.status_code == 500
        assert failed.headers["content-type"] == "application/problem+json"
        assert failed.json()["request_id"] == failed.headers["x-request-id"]
    err = capsys.readouterr().err
    server_side = [r for r in json_lines(err) if r["logger"] != "httpx"]  # the test's client
    text = "\n".join(json.dumps(r, ensure_ascii=False) for r in server_side)
    assert "services.careless" in text and "[redacted" in text  # the careless line is there
    assert any(r.get("status") == 500 for r in server_side)
    (failure,) = [r for r in server_side if r["logger"] == "uvicorn.error"]
    # a traceback logged while a request is served keeps its frames and types, never the
    # message, which may hold the request's data (issue 11, finding 4)
    assert "RuntimeError: [message withheld]" in failure["exc_info"]
    assert f"failed for token {admin}" not in failure["exc_info"]
    assert failure["request_id"] == failed.headers["x-request-id"]
    (unhandled,) = [r for r in server_side if r["logger"] == "altan.error"]
    assert unhandled["error_type"] == "RuntimeError"
    assert unhandled["request_id"] == failed.headers["x-request-id"]
    assert "in boom" in unhandled["traceback"]
    for secret in (admin, centre, bad, PASSPHRASE, METRICS_TOKEN, "BEGIN PRIVATE KEY", "MC4CAQ"):
        assert secret not in text, secret
    for value in (*personal.values(), "Дорж Батбаяр", salt.hex()):
        assert value not in text, value
    # and the whole of stderr, the test client's own lines included
    for secret in (admin, centre, PASSPHRASE, METRICS_TOKEN, *personal.values()):
        assert secret not in err


@pytest.mark.parametrize(
    ("message", "leaked"),
    [
        ("token altan_" + "a1B2-c3_D4" * 5 + " used", "a1B2-c3_D4"),
        ("Authorization: Bearer abc.DEF-ghi_jkl~mno+pqr/stu=", "abc.DEF"),
        ("bearer\tsomething-secret", "something-secret"),
        (f"key:\n{PEM}\nend", "MC4CAQ"),
        ("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIGbMFcGCSqGSIb3DQEF (cut)", "MIGbMF"),
        ('{"passphrase": "hunter2hunter2"}', "hunter2"),
        ("ALTAN_KEY_PASSPHRASE=hunter2hunter2 altan serve", "hunter2"),
        ("password='open sesame'", "open"),
        (f"the configured one: {PASSPHRASE}!", "battery"),
    ],
)
def test_the_filter_redacts_secret_patterns(message: str, leaked: str) -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s", (message,), None)
    assert RedactSecrets([PASSPHRASE]).filter(record)
    assert leaked not in record.getMessage()
    assert "[redacted" in record.getMessage()


def test_the_filter_redacts_tracebacks_and_leaves_the_rest() -> None:
    try:
        raise ValueError("altan_" + "q" * 43)
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "lot %s", ("AU-1",), None)
        record.exc_info = sys.exc_info()
    RedactSecrets().filter(record)
    assert record.getMessage() == "lot AU-1"
    assert record.exc_text is not None and "q" * 43 not in record.exc_text
    assert "ValueError" in record.exc_text


# -- metrics ----------------------------------------------------------------------------------


def scrape(api: Api, **headers: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    resp = api.client.get("/metrics", headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(resp.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def sample(
    metrics: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return metrics.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_are_off_by_default(api: Api) -> None:
    assert api.client.get("/metrics").status_code == 404


def test_metrics_move_with_appends_proofs_and_requests(tmp_path: Path) -> None:
    with running_api(tmp_path, metrics=True) as api:
        before = scrape(api)
        api.register("centre:bornuur", "processing_centre")
        api.register("partnership:tuul", "partnership", members=5)
        api.ok(
            "admin:root",
            "site.registered",
            {
                "site": "SITE-1",
                "owner": "partnership:tuul",
                "region": {"aimag": "Töv", "soum": "Bornuur"},
                "lat": "48.5",
                "lon": "106.2",
            },
        )
        size = api.size()
        assert api.client.get(f"/log/proof/inclusion?index=0&tree_size={size}").status_code == 200
        assert api.client.get(f"/log/proof/consistency?first=1&second={size}").status_code == 200
        api.client.get("/lots/ORE-1", headers=api.headers("admin:root"))
        api.client.get("/no/such/path/7f3a")
        after = scrape(api)

    def moved(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert moved("altan_entries_appended_total", type="actor.registered") == 2
    assert moved("altan_entries_appended_total", type="site.registered") == 1
    assert moved("altan_group_commit_batch_size_count") == 3  # one POST /events each
    assert moved("altan_group_commit_batch_size_sum") == 3
    assert moved("altan_proof_duration_seconds_count", kind="inclusion") == 1
    assert moved("altan_proof_duration_seconds_count", kind="consistency") == 1
    http = "altan_http_request_duration_seconds_count"
    assert moved(http, method="POST", route="/events", status="2xx") == 3
    assert moved(http, method="GET", route="/lots/{lot_id}", status="4xx") == 1
    assert moved(http, method="GET", route="unrouted", status="4xx") == 1
    labels = {dict(k[1]).get("route") for k in after if k[0] == http}
    assert not any(r and ("ORE-1" in r or "7f3a" in r) for r in labels)  # templates only
    # read from the database at scrape time
    assert sample(after, "altan_log_size") == size
    age = sample(after, "altan_checkpoint_age_seconds")
    assert 0 <= age < 120


def test_checkpoint_age_counts_from_the_latest_checkpoint(tmp_path: Path) -> None:
    from sqlalchemy import text

    with running_api(tmp_path, metrics=True) as api:
        engine = api.client.app.state.log.engine  # type: ignore[attr-defined]
        with engine.begin() as conn:  # pretend the last checkpoint is an hour old
            conn.execute(
                text(
                    "UPDATE log_checkpoints SET published_at = '2020-01-01T00:00:00.000000Z' "
                    "WHERE size = (SELECT MAX(size) FROM log_checkpoints)"
                )
            )
        old = sample(scrape(api), "altan_checkpoint_age_seconds")
        api.register("miner:bat", "miner")
        fresh = sample(scrape(api), "altan_checkpoint_age_seconds")
    assert old > 86_400 * 365 and 0 <= fresh < 120


def test_metrics_token(tmp_path: Path) -> None:
    with running_api(tmp_path, metrics=True, metrics_token=METRICS_TOKEN) as api:
        refused = api.client.get("/metrics")
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.headers["www-authenticate"] == "Bearer"
        wrong = api.client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        admin = api.client.get("/metrics", headers=api.headers("admin:root"))
        assert admin.status_code == 401  # a user's token is not the scrape token
        assert scrape(api, Authorization=f"Bearer {METRICS_TOKEN}")
