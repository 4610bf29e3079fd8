"""Security headers, CORS and rate limits through real HTTP on the app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from services.certificates import pages as certificate_pages
from services.reports import pages as report_pages
from services.security import RateLimiter, Security
from services.settings import Settings
from support.clock import FakeClock
from support.domain import Api, running_api

JSON_CSP = "default-src 'none'; frame-ancestors 'none'"
ORIGIN = "https://verify.altan.example"


def assert_base_headers(headers: httpx.Headers) -> None:
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with running_api(tmp_path) as api:
        yield api


# -- headers ---------------------------------------------------------------------------------


def test_json_answers_and_problems_carry_the_headers(api: Api) -> None:
    size = api.size()
    for resp in (
        api.client.get("/healthz"),
        api.client.get("/log/checkpoint"),
        api.client.get(f"/log/proof/inclusion?index=0&tree_size={size}"),
        api.client.get("/lots/ORE-1"),  # 401 problem
        api.client.get("/no/such/path"),  # 404 problem
        api.client.post("/events", content=b"x" * 5_000_000),  # 413 from BodyLimit
    ):
        assert_base_headers(resp.headers)
        assert resp.headers["content-security-policy"] == JSON_CSP
        assert "strict-transport-security" not in resp.headers  # the public URL is http
        assert resp.headers.get_list("x-frame-options") == ["DENY"]  # once, not twice


def test_pages_keep_their_own_policy(api: Api) -> None:
    page = api.client.get("/c/NOT-A-TOKEN")
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers.get_list("content-security-policy") == [certificate_pages.PAGE_CSP]
    assert page.headers.get_list("x-content-type-options") == ["nosniff"]
    assert_base_headers(page.headers)
    report = api.client.get(
        "/reports?from=2026-09-01&to=2026-09-30", headers=api.headers("admin:root")
    )
    assert report.status_code == 200
    assert report.headers.get_list("content-security-policy") == [report_pages.PAGE_CSP]
    assert_base_headers(report.headers)


def test_the_openapi_pages_load_their_cdn_scripts(api: Api) -> None:
    docs = api.client.get("/docs")
    assert docs.status_code == 200
    assert "content-security-policy" not in docs.headers
    assert_base_headers(docs.headers)


def test_hsts_only_behind_https(tmp_path: Path) -> None:
    with running_api(tmp_path, public_url="https://au.mn") as api:
        for path in ("/healthz", "/log/checkpoint", "/c/NOT-A-TOKEN"):
            assert api.client.get(path).headers["strict-transport-security"] == ("max-age=31536000")


# -- CORS ------------------------------------------------------------------------------------


def preflight(
    api: Api, path: str, origin: str = ORIGIN, method: str = "GET", **extra: str
) -> httpx.Response:
    headers = {"Origin": origin, "Access-Control-Request-Method": method, **extra}
    resp: httpx.Response = api.client.options(path, headers=headers)
    return resp


# The public proofs a verifier on another site reads (`altan verifier export`): `*` always.
OPEN_PATHS = (
    "/log/checkpoint",
    "/log/keys",
    "/log/entries?start=0&end=1",
    "/log/proof/inclusion?index=0&tree_size=1",
    "/api/c/NOT-A-TOKEN",
    "/lots/ORE-1/status-proof",
)


@pytest.mark.parametrize("cors_origins", ["", ORIGIN])
def test_the_public_proofs_answer_any_origin(tmp_path: Path, cors_origins: str) -> None:
    """A verifier the operator does not serve reads the proofs from its own origin, with no
    credentials; the operator's setting neither allows nor forbids it."""
    with running_api(tmp_path, cors_origins=cors_origins) as api:
        for path in OPEN_PATHS:
            for headers in ({}, {"Origin": "https://verifier.bank.example"}):
                got = api.client.get(path, headers=headers)
                assert got.headers["access-control-allow-origin"] == "*", (path, got.status_code)
                assert "access-control-allow-credentials" not in got.headers
                assert "vary" not in got.headers  # the same answer for every origin
            ok = preflight(
                api,
                path,
                origin="https://verifier.bank.example",
                **{"Access-Control-Request-Headers": "X-Request-ID"},
            )
            assert ok.status_code == 204, path
            assert ok.headers["access-control-allow-origin"] == "*"
            assert ok.headers["access-control-allow-methods"] == "GET, HEAD"
            assert "access-control-allow-credentials" not in ok.headers
        assert api.client.head("/log/checkpoint").headers["access-control-allow-origin"] == "*"
        # never for a write, a credential, or an authenticated read
        refused = [
            preflight(api, "/log/checkpoint", method="POST"),
            preflight(api, "/log/cosignatures", method="POST"),
            preflight(
                api, "/log/checkpoint", **{"Access-Control-Request-Headers": "Authorization"}
            ),
            preflight(api, "/api/c/X", **{"Access-Control-Request-Headers": "Cookie"}),
        ]
        for resp in refused:
            assert resp.status_code == 403, resp.request.url
            assert "access-control-allow-origin" not in resp.headers
        for path in (
            "/lots/ORE-1",
            "/lots/ORE-1/history",
            "/lots/ORE-1/status-proof/x",
            "/lots//status-proof",
            "/lots/ORE-1/certificates",
            "/healthz",
        ):
            got = api.client.get(path, headers={"Origin": ORIGIN, **api.headers("admin:root")})
            assert "access-control-allow-origin" not in got.headers, path
            if not cors_origins:
                assert preflight(api, path).status_code >= 400, path


def test_cors_is_off_by_default(api: Api) -> None:
    resp = preflight(api, "/c/NOT-A-TOKEN")
    assert resp.status_code >= 400
    assert "access-control-allow-origin" not in resp.headers
    got = api.client.get("/c/NOT-A-TOKEN", headers={"Origin": ORIGIN})
    assert got.status_code == 200
    assert "access-control-allow-origin" not in got.headers


def test_cors_for_a_configured_origin_on_the_public_reads_only(tmp_path: Path) -> None:
    with running_api(tmp_path, cors_origins=f"{ORIGIN}, http://localhost:5173/") as api:
        page = "/c/NOT-A-TOKEN"
        ok = preflight(api, page)
        assert ok.status_code == 204
        assert ok.headers["access-control-allow-origin"] == ORIGIN
        assert ok.headers["access-control-allow-methods"] == "GET, HEAD"
        assert "access-control-allow-credentials" not in ok.headers
        assert "Origin" in ok.headers["vary"]
        assert preflight(api, page, origin="http://localhost:5173").status_code == 204
        with_header = preflight(api, page, **{"Access-Control-Request-Headers": "X-Request-ID"})
        assert with_header.status_code == 204

        got = api.client.get(page, headers={"Origin": ORIGIN})
        assert got.status_code == 200
        assert got.headers["access-control-allow-origin"] == ORIGIN
        assert "X-Request-ID" in got.headers["access-control-expose-headers"]

        refused = [
            preflight(api, page, origin="https://evil.example"),
            preflight(api, page, method="POST"),
            preflight(api, page, **{"Access-Control-Request-Headers": "Authorization"}),
            preflight(api, "/events", method="POST"),
            preflight(api, "/lots/ORE-1"),
        ]
        for resp in refused:
            assert resp.status_code == 403, resp.request.url
            assert resp.headers["content-type"] == "application/problem+json"
            assert "access-control-allow-origin" not in resp.headers
        # pages may be cached by shared caches: the answer says it varies by Origin
        plain = api.client.get(page)
        assert "access-control-allow-origin" not in plain.headers
        assert plain.headers["vary"] == "Origin"
        for path, headers in (
            (page, {"Origin": "https://evil.example"}),
            ("/lots/ORE-1", {"Origin": ORIGIN, **api.headers("admin:root")}),
            ("/healthz", {"Origin": ORIGIN}),
        ):
            assert (
                "access-control-allow-origin" not in api.client.get(path, headers=headers).headers
            )


def test_cors_for_any_origin(tmp_path: Path) -> None:
    with running_api(tmp_path, cors_origins="*") as api:
        assert preflight(api, "/log/keys", origin="https://any.example").status_code == 204
        for headers in ({}, {"Origin": "https://any.example"}):
            got = api.client.get("/log/keys", headers=headers)
            assert got.headers["access-control-allow-origin"] == "*"
            assert "vary" not in got.headers
        assert preflight(api, "/events", method="POST").status_code == 403
        got = api.client.get("/healthz", headers={"Origin": ORIGIN})
        assert "access-control-allow-origin" not in got.headers


def test_cors_origins_must_be_origins(tmp_path: Path) -> None:
    for bad in ("verify.example", "https://verify.example/path", "ftp://x.example", "https://a b"):
        with pytest.raises(ValidationError):
            Settings(data_dir=tmp_path, cors_origins=bad)
    cfg = Settings(data_dir=tmp_path, cors_origins=" https://a.example/ ,*,, http://b:8080 ")
    assert cfg.cors_origin_list == ("https://a.example", "*", "http://b:8080")


# -- rate limits -----------------------------------------------------------------------------


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[tuple[Api, FakeClock]]:
    with running_api(tmp_path, rate_limit_per_minute=6) as api:
        clock = FakeClock()
        (middleware,) = [m for m in api.client.app.user_middleware if m.cls is Security]  # type: ignore[attr-defined]
        limiter = middleware.kwargs["limiter"]
        assert isinstance(limiter, RateLimiter)
        limiter.clock = clock
        yield api, clock


def test_429_after_the_limit_with_retry_after(limited: tuple[Api, FakeClock]) -> None:
    api, clock = limited
    api.tokens["other"] = "altan_not-a-real-token-but-another-bucket-0000000"
    admin = api.headers("admin:root")
    # the first request counts against the address (the token is not yet known valid),
    # the next six against the actor (issue 11, finding 6)
    for _ in range(7):
        assert api.client.get("/lots/ORE-1", headers=admin).status_code == 404
    refused = api.client.get("/lots/ORE-1", headers=admin)
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["retry-after"] == "10"  # 6 a minute: one every 10 s
    body = refused.json()
    assert body["type"].endswith("/rate-limited") and body["status"] == 429
    assert "6 requests per minute per actor" in body["detail"]
    assert_base_headers(refused.headers)
    assert refused.headers["x-request-id"]
    # other tokens and anonymous clients have their own buckets; /healthz is never limited
    assert api.client.get("/lots/ORE-1", headers=api.headers("other")).status_code == 401
    assert api.client.get("/log/checkpoint").status_code == 200
    for _ in range(10):
        assert api.client.get("/healthz").status_code == 200
    # the bucket refills: one request every 10 s
    clock.now += 4
    again = api.client.get("/lots/ORE-1", headers=admin)
    assert again.status_code == 429 and again.headers["retry-after"] == "6"
    clock.now += 6
    assert api.client.get("/lots/ORE-1", headers=admin).status_code == 404
    assert api.client.get("/lots/ORE-1", headers=admin).status_code == 429


def test_anonymous_clients_are_limited_by_address(limited: tuple[Api, FakeClock]) -> None:
    api, _clock = limited
    admin = api.headers("admin:root")
    # one authenticated request makes the token known valid (it counts against the address)
    assert api.client.get("/lots/ORE-1", headers=admin).status_code == 404
    for _ in range(5):
        assert api.client.get("/log/checkpoint").status_code == 200
    refused = api.client.get("/c/NOT-A-TOKEN")
    assert refused.status_code == 429
    assert "per client address" in refused.json()["detail"]
    assert api.client.get("/log/checkpoint", headers=admin).status_code == 200
    # a bearer never seen valid gains nothing: it counts against the address (finding 6)
    random = {"Authorization": "Bearer altan_" + "r" * 43}
    assert api.client.get("/log/checkpoint", headers=random).status_code == 429


def test_posting_events_is_limited_too(limited: tuple[Api, FakeClock]) -> None:
    api, _clock = limited
    statuses = [
        api.post(
            "admin:root", "actor.registered", {"actor": f"miner:m{i}", "role": "miner"}
        ).status_code
        for i in range(9)
    ]
    # the first counts against the address, six against the actor (issue 11, finding 6)
    assert statuses == [201] * 7 + [429] * 2
    assert api.size() == 16  # the bootstrap entry and seven miners, each with its state.root


def test_behind_a_trusted_proxy_each_client_has_its_bucket(tmp_path: Path) -> None:
    # TestClient's peer is "testclient": here it plays the reverse proxy on the same host
    with running_api(tmp_path, rate_limit_per_minute=3, forwarded_allow_ips="testclient") as api:
        for client in ("203.0.113.7", "198.51.100.2"):
            xff = {"X-Forwarded-For": client}
            got = [api.client.get("/log/checkpoint", headers=xff).status_code for _ in range(4)]
            assert got == [200, 200, 200, 429], client


def test_forwarded_headers_are_ignored_from_untrusted_peers(tmp_path: Path) -> None:
    with running_api(tmp_path, rate_limit_per_minute=3) as api:
        got = [
            api.client.get("/log/checkpoint", headers={"X-Forwarded-For": f"203.0.113.{i}"})
            for i in range(4)
        ]
        assert [r.status_code for r in got] == [200, 200, 200, 429]  # one client, spoofing


def test_no_limit_when_zero(tmp_path: Path) -> None:
    with running_api(tmp_path, rate_limit_per_minute=0) as api:
        (middleware,) = [m for m in api.client.app.user_middleware if m.cls is Security]  # type: ignore[attr-defined]
        assert middleware.kwargs["limiter"] is None
        assert all(api.client.get("/log/checkpoint").status_code == 200 for _ in range(50))


def test_the_bucket() -> None:
    clock = FakeClock()
    limiter = RateLimiter(60, clock=clock)
    assert [limiter.take(b"a") for _ in range(60)] == [0.0] * 60  # a burst of a minute's worth
    assert limiter.take(b"a") == pytest.approx(1.0)
    assert limiter.take(b"b") == 0.0
    clock.now += 0.5
    assert limiter.take(b"a") == pytest.approx(0.5)
    clock.now += 3600
    assert [limiter.take(b"a") for _ in range(60)] == [0.0] * 60  # full again, no more
    assert limiter.take(b"a") > 0


def test_the_buckets_stay_bounded() -> None:
    clock = FakeClock()
    limiter = RateLimiter(60, clock=clock, max_keys=100)
    for i in range(100):
        limiter.take(b"k%d" % i)
    clock.now += 120  # all refilled: forgotten at the next new key
    limiter.take(b"new")
    assert len(limiter._buckets) == 1
    for i in range(250):  # a flood of fresh keys never grows past the bound
        limiter.take(b"f%d" % i)
        assert len(limiter._buckets) <= 100
