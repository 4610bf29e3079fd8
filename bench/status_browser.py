"""Status proofs (issue 14): verify time in the browser and in Python, side by side.

Starts the real service in process (services.app.create_app through the suite's
``running_api``, SQLite in a temp dir), records a small season through the HTTP API
(``--gold`` gold lots, each from an ore lot of its own: deliveries, processing runs,
certificates on two thirds of them, transfers to a bank, one revocation, one hold), then
fetches ``GET /lots/{id}/status-proof`` and ``GET /api/c/{token}`` for ``--answers``
certificates (mostly genuine; the transferred, revoked and held ones among them). Then times,
after ``--warmup`` untimed runs, ``--runs`` runs of each, cycling over those answers:

browser (Debian's /usr/bin/chromium, headless, through Playwright; a blank page served on
http://localhost by a Playwright route with COOP/COEP headers, so that the page is a secure,
cross-origin-isolated context and performance.now() is fine-grained), with
clients/verifier/altan-check.js (window.AltanCheck), timed inside the page:
  a) status        AltanCheck.verifyStatusProof (root index, RFC 9162 inclusion of the
                   state.root entry, the entry parsed, the lot state, the map proof) against
                   a checkpoint verified beforehand;
  a') +checkpoint  the checkpoint's signature (verifyCheckpoint, keys parsed beforehand), then
                   verifyStatusProof;
  b) whole         what clients/verifier/verifier.js `verify` does with a QR text and the
                   /api/c answer's text, minus the fetch and the witness policy (none pinned):
                   QR text, pinned keys parsed, token COSE_Sign1 signature, certificate id,
                   JSON.parse of the answer, checkpoint signature, the entry's inclusion,
                   the status proof, the verdict from the proven state.
Python (this process, one core), the same answers:
  a) status        ledger.status.StatusProof.from_json + verify_status (checkpoint opened
                   beforehand);
  a') +checkpoint  StatusProof.from_json + open_status (the checkpoint's signature too);
  b) whole         clients.verify's path minus the fetch: parse_qr_text, pinned keys,
                   verify_certificate, json.loads, _Answer validation and _judge;
  b') whole+httpx  clients.verify.verify_online through an httpx.MockTransport that serves
                   the answer bytes (the HTTP client's own overhead included).

Both sides' verdicts are compared with the server's. Ed25519 keys are imported into WebCrypto
once per page (AltanCheck caches them), so the first browser call of `whole` is shown apart.

Run: .venv/bin/python bench/status_browser.py [--gold 150] [--answers 16] [--runs 200]
         [--warmup 30] [--quick]
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import common
import httpx

# The project's root before tests/ (whose ledger/, services/ ... mirror the project's and
# would otherwise be taken for namespace packages), then tests/ for its `support` helpers.
sys.path.insert(0, str(common.ROOT))
sys.path.append(str(common.ROOT / "tests"))

from clients.verify import _Answer, _judge, pinned_keys, read_qr_text, verify_online
from ledger.certificate import parse_qr_text, verify_certificate
from ledger.checkpoint import open_checkpoint, pinned_origin
from ledger.note import NoteVerifier
from ledger.status import StatusProof, open_status, verify_status
from support.browser import CHROMIUM, CHROMIUM_ARGS  # type: ignore[import-not-found, unused-ignore]
from support.certificates import (  # type: ignore[import-not-found, unused-ignore]
    AUDITOR,
    BANK,
    CENTRE,
    PUBLIC_URL,
    REGULATOR,
    TRADER,
    World,
    populate,
)
from support.domain import running_api  # type: ignore[import-not-found, unused-ignore]

CHECK_JS = common.ROOT / "clients" / "verifier" / "altan-check.js"
ORIGIN = "http://localhost:8765"
ISOLATION = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-store",
}
BLANK = '<!doctype html><meta charset="utf-8"><title>bench</title><script src="/check.js"></script>'

# In the page: the operations, each `async (i) => verdict-ish`, over answers prepared once;
# `window.bench.run(name, runs, warmup)` returns {first, times} in ms.
HARNESS = r"""
window.bench = (function () {
  "use strict";
  var check = window.AltanCheck;
  var ctx = null;

  async function setup(input) {
    var keys = [];
    for (var k = 0; k < input.vkeys.length; k++) {
      keys.push(await check.parseVerifierKey(input.vkeys[k]));
    }
    var proofs = input.proofs.map(function (t) { return JSON.parse(t); });
    var checkpoints = [];
    for (var i = 0; i < proofs.length; i++) {
      checkpoints.push(await check.verifyCheckpoint(proofs[i].checkpoint, keys));
    }
    ctx = {
      vkeys: input.vkeys,
      keys: keys,
      proofs: proofs,
      lots: input.lots,
      checkpoints: checkpoints,
      qr: input.qr,
      answers: input.answers,
    };
    return { isolated: self.crossOriginIsolated, secure: self.isSecureContext };
  }

  // verifier.js `verify`, minus the fetch, the witness policy and the page
  async function whole(qrText, answerText, vkeys) {
    var parsed = check.parseQrText(qrText);
    var logKeys = [];
    for (var k = 0; k < vkeys.length; k++) {
      logKeys.push(await check.parseVerifierKey(vkeys[k]));
    }
    var signed = await check.checkToken(parsed.token, logKeys, true);
    if (signed.state !== "ok") throw new Error("no Ed25519 in this browser");
    var facts = check.certificateFacts(signed.payload);
    var id = await check.certificateId(parsed.token);
    var answer = JSON.parse(answerText);
    var latest = await check.verifyCheckpoint(answer.checkpoint, logKeys);
    await check.verifyEntryProof(answer.proof, latest, facts);
    var proof = answer.status_proof;
    var own = check.parseNote(proof.checkpoint, "not_latest_root");
    if (own.body !== latest.body) throw check.fail("not_latest_root", "another checkpoint");
    if (proof.lot !== facts.lot) throw check.fail("map_proof", "another lot");
    var proven = await check.verifyStatusProof(proof, latest);
    var v = check.statusVerdict(proven.state, id, facts.custodian);
    return v.verdict + (v.reason ? "/" + v.reason : "");
  }

  var ops = {
    status: async function (i) {
      var p = await check.verifyStatusProof(ctx.proofs[i], ctx.checkpoints[i]);
      if (p.lot !== ctx.lots[i]) throw new Error("another lot");
      return p.state === null ? "absent" : p.state.status;
    },
    status_checkpoint: async function (i) {
      var proof = ctx.proofs[i];
      var cp = await check.verifyCheckpoint(proof.checkpoint, ctx.keys);
      var p = await check.verifyStatusProof(proof, cp);
      if (p.lot !== ctx.lots[i]) throw new Error("another lot");
      return p.state === null ? "absent" : p.state.status;
    },
    whole: function (i) {
      return whole(ctx.qr[i], ctx.answers[i], ctx.vkeys);
    },
  };

  async function run(name, runs, warmup) {
    var op = ops[name];
    var n = ctx.proofs.length;
    var t0 = performance.now();
    var firstResult = await op(0);
    var first = performance.now() - t0;
    for (var w = 0; w < warmup; w++) await op(w % n);
    var times = [];
    for (var r = 0; r < runs; r++) {
      var t = performance.now();
      await op(r % n);
      times.push(performance.now() - t);
    }
    var results = [];
    for (var j = 0; j < n; j++) results.push(await op(j));
    return { first: first, times: times, results: results, firstResult: firstResult };
  }

  function resolution() {
    var best = Infinity;
    for (var i = 0; i < 2000; i++) {
      var a = performance.now();
      var b = performance.now();
      while (b === a) b = performance.now();
      best = Math.min(best, b - a);
    }
    return best;
  }

  return { setup: setup, run: run, resolution: resolution };
})();
"""


# --- the season ------------------------------------------------------------------------------


def record_season(world: World, gold: int) -> dict[str, str]:
    """Record `gold` gold lots (each from an ore lot), certificates on two thirds of them,
    every 12th certified lot transferred to a bank, one certificate revoked, one lot held.
    Returns {lot: what became of its certificate} for the certified lots."""
    api = world.api
    fates: dict[str, str] = {}
    step = max(1, gold // 10)
    started = time.perf_counter()
    for i in range(1, gold + 1):
        lot = f"AU-2026-{i:04d}"
        world.gold(lot, 20_000 + 37 * i)
        if i % 3:
            world.request(lot)
            fates[lot] = "genuine"
        if i % step == 0:
            print(
                f"  season: {i}/{gold} gold lots, {world.size()} entries, "
                f"{time.perf_counter() - started:.0f} s",
                file=sys.stderr,
            )
    certified = sorted(fates)
    for n, lot in enumerate(certified[::12]):
        buyer = BANK if n % 2 == 0 else TRADER
        world.offer_and_accept(f"OF-{lot}", lot, buyer)
        fates[lot] = "transferred"
    genuine = [lot for lot in certified if fates[lot] == "genuine"]
    revoked, held = genuine[1], genuine[2]
    [record] = world.certificates(revoked)
    api.ok(
        REGULATOR,
        "certificate.revoked",
        {"certificate": record["id"], "reason": "issued on a false assay"},
    )
    fates[revoked] = "revoked"
    api.ok(
        AUDITOR,
        "case.opened",
        {
            "case": "HOLD-BENCH-1",
            "kind": "hold",
            "target": {"kind": "lot", "id": held},
            "category": "other",
            "description": "papers under review",
        },
    )
    fates[held] = "held"
    # the season goes on after them: later lots, so that the proofs are of a log that grew
    for i in range(gold + 1, gold + 4):
        world.gold(f"AU-2026-{i:04d}", 20_000 + i)
        world.request(f"AU-2026-{i:04d}", by=CENTRE)
    return fates


def pick(fates: dict[str, str], n: int) -> list[str]:
    """`n` certified lots: every fate other than genuine once, the rest genuine."""
    others = [
        next(lot for lot in sorted(fates) if fates[lot] == f) for f in sorted(set(fates.values()))
    ]
    others = [lot for lot in others if fates[lot] != "genuine"]
    genuine = [lot for lot in sorted(fates) if fates[lot] == "genuine"]
    stride = max(1, len(genuine) // max(1, n - len(others)))
    return (others + genuine[::stride])[:n]


# --- timing ------------------------------------------------------------------------------------


def time_python(op: Callable[[int], object], n: int, runs: int, warmup: int) -> list[float]:
    for w in range(warmup):
        op(w % n)
    out: list[float] = []
    for r in range(runs):
        t = time.perf_counter()
        op(r % n)
        out.append(time.perf_counter() - t)
    return out


def line(label: str, ms: Sequence[float], extra: str = "") -> str:
    return (
        f"  {label:<38} p50={common.pct(ms, 0.5):7.3f} ms  p99={common.pct(ms, 0.99):7.3f} ms"
        f"  max={max(ms):7.3f} ms{extra}"
    )


def size_line(label: str, sizes: Sequence[int]) -> str:
    ordered = sorted(sizes)
    return (
        f"  {label:<44} median {ordered[len(ordered) // 2]:>6,} B   "
        f"min {ordered[0]:>6,} B   max {ordered[-1]:>6,} B"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--gold", type=int, default=150, help="gold lots (each with an ore lot)")
    parser.add_argument("--answers", type=int, default=16, help="certificates to cycle over")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="30 gold lots, 50 runs")
    args = parser.parse_args()
    if args.quick:
        args.gold, args.runs, args.warmup, args.answers = 30, 50, 10, 6
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.is_file():
        raise SystemExit(f"needs Chromium at {CHROMIUM} (apt-get install chromium)")
    common.print_machine(None)
    logging.disable(logging.INFO)  # the service's access log and migrations: not figures
    load = common.LoadSampler()

    with (
        tempfile.TemporaryDirectory(prefix="altan-bench-status-browser-") as tmp,
        running_api(Path(tmp), public_url=PUBLIC_URL) as api,
    ):
        world = populate(api)
        t0 = time.perf_counter()
        fates = record_season(world, args.gold)
        c = api.client
        size = world.size()
        chosen = pick(fates, args.answers)
        vkeys = world.vkeys()
        proof_texts: list[bytes] = []
        answer_texts: list[bytes] = []
        qr: list[str] = []
        server_says: list[str] = []
        for lot in chosen:
            resp = c.get(f"/lots/{lot}/status-proof")
            assert resp.status_code == 200, resp.text
            proof_texts.append(resp.content)
            # a transfer issues the new custodian a certificate: time the one it made stale
            certs = world.certificates(lot)
            token = str(certs[-1 if fates[lot] == "transferred" else 0]["token"])
            resp = c.get(f"/api/c/{token}")
            assert resp.status_code == 200, resp.text
            answer_texts.append(resp.content)
            body = resp.json()
            server_says.append(body["verdict"] + (f"/{body['reason']}" if body["reason"] else ""))
            qr.append(f"{PUBLIC_URL}/c/{token}")
        root = json.loads(proof_texts[0])
        lots_total = int(json.loads(base64.b64decode(root["root"]["entry"]))["body"]["lots"])
        print(
            f"season: {args.gold + 3} gold lots + their ore lots ({lots_total} lots in the map), "
            f"{len(fates)} certified, {sum(f == 'transferred' for f in fates.values())} "
            f"transferred, 1 revoked, 1 held; log of {size} entries; recorded through the API "
            f"in {time.perf_counter() - t0:.1f} s"
        )

    same = sum(
        json.loads(p) == json.loads(a)["status_proof"]
        for p, a in zip(proof_texts, answer_texts, strict=True)
    )
    proofs = [json.loads(p) for p in proof_texts]
    print(
        f"answers: {len(chosen)} certificates ({', '.join(sorted(set(server_says)))}); "
        f"/lots/{{id}}/status-proof == /api/c status_proof for {same}/{len(chosen)}"
    )
    print("sizes (JSON as served):")
    print(size_line("GET /lots/{id}/status-proof", [len(p) for p in proof_texts]))
    print(
        size_line(
            "  of which map_proof (compact JSON)",
            [len(json.dumps(p["map_proof"], separators=(",", ":"))) for p in proofs],
        )
    )
    print(size_line("GET /api/c/{token} (whole answer)", [len(a) for a in answer_texts]))
    siblings = sorted(len(p["map_proof"]["siblings"]) for p in proofs)
    inclusion = sorted(len(p["root"]["inclusion"]) for p in proofs)
    print(
        f"  map proof siblings {siblings[0]}..{siblings[-1]}, "
        f"state.root inclusion {inclusion[0]}..{inclusion[-1]} hashes"
    )

    # --- Python --------------------------------------------------------------------------------
    n = len(chosen)
    verifiers = [NoteVerifier.from_vkey(v) for v in vkeys]
    origin = pinned_origin(v.name for v in verifiers)
    checkpoints = [open_checkpoint(p["checkpoint"], verifiers, origin)[0] for p in proofs]

    def py_status(i: int) -> object:
        return verify_status(StatusProof.from_json(proofs[i]), checkpoints[i], chosen[i])

    def py_status_checkpoint(i: int) -> object:
        return open_status(StatusProof.from_json(proofs[i]), verifiers, chosen[i])

    def py_whole(i: int) -> str:
        text = read_qr_text(qr[i])
        token = parse_qr_text(text)
        keys = pinned_keys(list(vkeys))
        cert = verify_certificate(token, keys)
        note_verifiers = [NoteVerifier.from_vkey(v) for v in vkeys]
        pinned_origin(v.name for v in note_verifiers)
        answer = _Answer.model_validate(json.loads(answer_texts[i]))
        v = _judge(answer, token, cert, keys, note_verifiers, PUBLIC_URL, True)
        return v.verdict + (f"/{v.reason}" if v.reason else "")

    def serve(request: httpx.Request) -> httpx.Response:
        token = request.url.path.rsplit("/", 1)[1]
        i = next(k for k, q in enumerate(qr) if q.endswith("/" + token))
        return httpx.Response(
            200, content=answer_texts[i], headers={"content-type": "application/json"}
        )

    mock = httpx.Client(transport=httpx.MockTransport(serve))

    def py_whole_httpx(i: int) -> str:
        v = verify_online(qr[i], vkeys, client=mock)
        return v.verdict + (f"/{v.reason}" if v.reason else "")

    py_says = [py_whole(i) for i in range(n)]
    py_http_says = [py_whole_httpx(i) for i in range(n)]
    python: dict[str, list[float]] = {}
    for name, op in (
        ("status", py_status),
        ("status_checkpoint", py_status_checkpoint),
        ("whole", py_whole),
        ("whole_httpx", py_whole_httpx),
    ):
        python[name] = [s * 1000 for s in time_python(op, n, args.runs, args.warmup)]
    mock.close()

    # --- the browser --------------------------------------------------------------------------
    js = CHECK_JS.read_bytes()
    with sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, timeout=30_000
        )
        version = browser.version
        page = browser.new_context().new_page()

        def route(r: Any) -> None:
            path = r.request.url[len(ORIGIN) :]
            if path == "/check.js":
                r.fulfill(
                    status=200,
                    body=js,
                    headers={**ISOLATION, "Content-Type": "text/javascript; charset=utf-8"},
                )
            elif path in ("", "/"):
                r.fulfill(
                    status=200,
                    body=BLANK,
                    headers={**ISOLATION, "Content-Type": "text/html; charset=utf-8"},
                )
            else:
                r.fulfill(status=404, body="", headers=ISOLATION)

        page.route(f"{ORIGIN}/**", route)
        page.goto(f"{ORIGIN}/")
        page.wait_for_function("() => window.AltanCheck !== undefined")
        page.add_script_tag(content=HARNESS)
        env = page.evaluate(
            "input => window.bench.setup(input)",
            {
                "vkeys": vkeys,
                "proofs": [p.decode() for p in proof_texts],
                "lots": chosen,
                "qr": qr,
                "answers": [a.decode() for a in answer_texts],
            },
        )
        resolution = page.evaluate("() => window.bench.resolution()")
        user_agent = page.evaluate("() => navigator.userAgent")
        browser_runs: dict[str, dict[str, Any]] = {}
        for name in ("status", "status_checkpoint", "whole"):
            browser_runs[name] = page.evaluate(
                "([name, runs, warmup]) => window.bench.run(name, runs, warmup)",
                [name, args.runs, args.warmup],
            )
        browser.close()

    js_says = browser_runs["whole"]["results"]
    agree = sum(
        a == b == c == d
        for a, b, c, d in zip(server_says, py_says, py_http_says, js_says, strict=True)
    )
    print(
        f"verdicts: server, Python (judge, verify_online) and browser agree on {agree}/{n}"
        + ("" if agree == n else f"  server {server_says} python {py_says} browser {js_says}")
    )
    print(
        f"browser: Chromium {version} (/usr/bin/chromium, headless), Playwright; "
        f"secure context {env['secure']}, cross-origin isolated {env['isolated']}, "
        f"performance.now() step {resolution * 1000:.1f} us"
    )
    print(f"         {user_agent}")
    print(f"timings: {args.runs} runs each after {args.warmup} warm-up runs, over {n} answers")
    labels = {
        "status": "a) status proof alone",
        "status_checkpoint": "a') + checkpoint signature",
        "whole": "b) whole certificate check",
        "whole_httpx": "b') verify_online, httpx mock",
    }
    for name in ("status", "status_checkpoint", "whole", "whole_httpx"):
        if name in browser_runs:
            run = browser_runs[name]
            first = f"  first call {run['first']:.3f} ms" if name == "whole" else ""
            print(line(f"browser {labels[name]}", run["times"], first))
        print(line(f"Python  {labels[name]}", python[name]))
    print(load.stop())


if __name__ == "__main__":
    main()
