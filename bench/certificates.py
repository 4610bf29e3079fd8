"""Certificate issue time: the token alone, the token and its PNG, and the whole request
through the service (rules, provenance, signing, two appends, PNG); target < 20 ms.

1. core: `sign_certificate` of a realistic gold-lot certificate, then `qr_png` of its URL;
2. service: a centre asks for a certificate of a fresh gold lot (`certificate.requested`
   through `EventService.submit`, which records the request and the system's
   `certificate.issued` in one transaction with the token signed in between), then the
   PNG of its QR; on SQLite in a temporary directory;
3. verify: the online verdict of a token (`services.certificates.verdict.check`: offline
   checklist, the entry, the inclusion proof against the latest checkpoint, the lot).

Run: .venv/bin/python bench/certificates.py [--n 300]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import common

from ledger.certificate import (
    Certificate,
    CertificateKind,
    MassUnit,
    Origin,
    qr_text,
    sign_certificate,
)
from ledger.keystore import KeyStore
from ledger.sql import storage
from services.actors.bootstrap import bootstrap_administrator
from services.certificates.images import qr_png
from services.certificates.models import CertificateRecord
from services.certificates.verdict import check
from services.identity import Principal
from services.pipeline.service import Submission
from services.runtime import open_runtime
from services.settings import Settings

PUBLIC_URL = "https://altan.mn"
WHEN = "2026-09-14T10:12:00+08:00"
ADMIN = Principal("admin:root", "administrator")
REGULATOR = Principal("regulator:tov", "regulator")
CENTRE = Principal("centre:bornuur", "processing_centre")
MINER = Principal("partnership:tuul", "partnership")


def realistic(index: int) -> Certificate:
    return Certificate(
        kind=CertificateKind.GOLD_LOT,
        lot_id=f"AU-2026-{index:06d}",
        mass=1_234_567,
        unit=MassUnit.MG,
        fineness_ppt=995,
        origin=Origin(aimag=55, miners=37, sites=4, mercury_free=True),
        custodian="centre:bornuur",
        issued_at=1_790_000_000,
        ledger_index=123_456 + index,
        leaf_hash_prefix=bytes(range(16)),
    )


def core(n: int, directory: Path) -> None:
    store = KeyStore(directory / "keys", common.ORIGIN)
    store.load_or_create(common.T0)
    signer = store.active()
    token_s, png_s = [], []
    for i in range(n):
        cert = realistic(i)
        t0 = time.perf_counter()
        token = sign_certificate(cert, signer)
        t1 = time.perf_counter()
        qr_png(qr_text(PUBLIC_URL, token))
        t2 = time.perf_counter()
        token_s.append(t1 - t0)
        png_s.append(t2 - t1)
    both = [a + b for a, b in zip(token_s, png_s, strict=True)]
    print("core (ledger.certificate + images):")
    print("  " + common.latency_line("token", token_s))
    print("  " + common.latency_line("PNG of the QR", png_s))
    print("  " + common.latency_line("token + PNG", both))


def submit(runtime: object, who: Principal, type_: str, **body: object) -> object:
    events = runtime.events  # type: ignore[attr-defined]
    return events.submit(who, Submission(type_, {"occurred_at": WHEN, **body}))


def service(n: int, directory: Path) -> None:
    cfg = Settings(data_dir=directory / "data", public_url=PUBLIC_URL)
    rt = open_runtime(cfg)
    try:
        bootstrap_administrator(rt.events)
        for who in (REGULATOR, CENTRE, MINER):
            submit(rt, ADMIN, "actor.registered", actor=who.actor_id, role=who.role)
        submit(
            rt,
            REGULATOR,
            "site.registered",
            site="SITE-1",
            owner=MINER.actor_id,
            region={"aimag": "Töv", "soum": "Zaamar"},
            lat="48.23",
            lon="104.78",
        )
        issue_s, png_s, verify_s = [], [], []
        for i in range(n):
            lot = f"AU-{i:06d}"
            submit(
                rt,
                CENTRE,
                "ore.delivered",
                lot=f"ORE-{i:06d}",
                miner=MINER.actor_id,
                site="SITE-1",
                mass_g=5_000_000,
                mined_on="2026-09-10",
            )
            submit(
                rt,
                CENTRE,
                "processing.recorded",
                run=f"RUN-{i:06d}",
                inputs=[{"lot": f"ORE-{i:06d}", "mass_g": 5_000_000}],
                outputs=[{"lot": lot, "form": "dore", "mass_mg": 50_000}],
                method="gravity",
                mercury_free=True,
                started_on="2026-09-12",
                finished_on="2026-09-13",
            )
            t0 = time.perf_counter()
            submit(rt, CENTRE, "certificate.requested", lot=lot)
            t1 = time.perf_counter()
            with storage.read_transaction(rt.engine) as conn:
                token = conn.execute(
                    CertificateRecord.__table__.select().where(
                        CertificateRecord.__table__.c.lot_id == lot
                    )
                ).one()
            text = qr_text(PUBLIC_URL, token.token)
            qr_png(text)
            t2 = time.perf_counter()
            with storage.read_transaction(rt.engine) as conn:
                view = check(conn, token.token, PUBLIC_URL)
            t3 = time.perf_counter()
            assert view.verdict == "genuine", view
            issue_s.append(t1 - t0)
            png_s.append(t2 - t1)
            verify_s.append(t3 - t2)
        both = [a + b for a, b in zip(issue_s, png_s, strict=True)]
        print(f"service on SQLite (log of {rt.log.size():,} entries at the end):")
        print("  " + common.latency_line("certificate.requested → issued", issue_s))
        print("  " + common.latency_line("read token + PNG", png_s))
        print("  " + common.latency_line("issue + PNG (target < 20 ms)", both))
        print("  " + common.latency_line("online verdict (/c/{token} JSON)", verify_s))
    finally:
        rt.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=300, help="certificates to issue")
    args = parser.parse_args()
    print("bench/certificates.py: certificate issue time")
    common.print_machine(None)
    with tempfile.TemporaryDirectory() as tmp:
        core(args.n, Path(tmp))
        service(args.n, Path(tmp))


if __name__ == "__main__":
    main()
