"""`altan verifier export`: the static verifier site, its pinned configuration, the refusal
of bad options, and the promises about its files (one glossary, one copy of the checks, a
vendored decoder with its licence, nothing loaded from another host).

The site in a browser: tests/clients/test_verifier_browser.py.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from clients import cli
from clients.verifier_export import ASSETS, SOURCE
from ledger.cosignature import WitnessSigner
from ledger.note import NoteSigner
from services import i18n
from services.certificates import pages
from support.paths import REPO

LOG = NoteSigner(Ed25519PrivateKey.from_private_bytes(bytes(range(32))), "ledger.altan.mn/log")
OTHER_LOG = NoteSigner(Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33))), "other.mn/log")
WITNESSES = [
    WitnessSigner(Ed25519PrivateKey.from_private_bytes(bytes([n]) * 32), f"w{n}.example.mn")
    for n in (1, 2, 3)
]

# the spec's named failures of a status proof (and the verdicts from the proven state)
STATUS_PROOF_REASONS = {"not_latest_root", "root_not_in_log", "not_a_state_root", "map_proof"}
STATUS_REASONS = {"not_in_log", "revoked", "superseded", "consumed", "transferred", "held"}


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli.app, ["verifier", "export", *args])
    return result.exit_code, result.output


def config_of(index_html: str) -> dict[str, Any]:
    found = re.search(
        r'<script type="application/json" id="altan-config">(.*?)</script>', index_html
    )
    assert found is not None
    parsed: dict[str, Any] = json.loads(found.group(1))
    return parsed


def csp_of(index_html: str) -> str:
    found = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', index_html)
    assert found is not None
    return found.group(1)


def test_export_writes_the_site_with_the_pinned_configuration(tmp_path: Path) -> None:
    site = tmp_path / "verifier"
    witness_args = [a for w in WITNESSES for a in ("--witness", w.key.vkey)]
    code, output = run(
        str(site),
        "--key",
        LOG.verifier.vkey,
        *witness_args,
        "--min-cosignatures",
        "2",
        "--max-age",
        "900",
        "--ledger",
        "https://ledger.altan.mn/",
    )
    assert code == 0, output
    assert "wrote 8 files" in output and "2 of 3 witnesses within 900 s" in output
    names = sorted(p.name for p in site.iterdir())
    assert names == sorted(["index.html", "SHA256SUMS", *ASSETS])
    index = (site / "index.html").read_text(encoding="utf-8")
    assert config_of(index) == {
        "version": 1,
        "ledger": "https://ledger.altan.mn",
        "log_keys": [LOG.verifier.vkey],
        "witnesses": [w.key.vkey for w in WITNESSES],
        "min_cosignatures": 2,
        "max_age": 900,
    }
    assert "__ALTAN_" not in index
    # it may connect to the pinned ledger only, and load nothing but its own files
    csp = csp_of(index)
    assert "connect-src https://ledger.altan.mn;" in csp
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    for src in re.findall(r'(?:src|href)="([^"]*)"', index):
        assert src == "data:," or ("/" not in src and ":" not in src), src
    # the words are inlined, the assets copied byte for byte, their hashes listed
    words = re.search(r'id="altan-words">(.*?)</script>', index)
    assert words is not None
    assert json.loads(words.group(1)) == json.loads((SOURCE / "words.json").read_text())
    for name in ASSETS:
        assert (site / name).read_bytes() == (SOURCE / name).read_bytes(), name
    sums = dict(
        reversed(line.split("  ", 1)) for line in (site / "SHA256SUMS").read_text().splitlines()
    )
    assert set(sums) == {"index.html", *ASSETS}
    for name, digest in sums.items():
        assert hashlib.sha256((site / name).read_bytes()).hexdigest() == digest


def test_without_a_ledger_it_asks_the_one_in_the_qr_code(tmp_path: Path) -> None:
    code, output = run(str(tmp_path / "s"), "--key", LOG.verifier.vkey)
    assert code == 0, output
    index = (tmp_path / "s" / "index.html").read_text(encoding="utf-8")
    config = config_of(index)
    assert (config["ledger"], config["witnesses"], config["min_cosignatures"]) == (None, [], 0)
    assert config["max_age"] == 3600
    assert "connect-src https:;" in csp_of(index)


def test_json_in_the_page_cannot_close_its_script_element(tmp_path: Path) -> None:
    code, output = run(
        str(tmp_path / "s"), "--key", LOG.verifier.vkey, "--ledger", "https://x.mn/</script>&"
    )
    assert code == 0, output
    index = (tmp_path / "s" / "index.html").read_text(encoding="utf-8")
    assert index.count("</script>") == 5  # the page's own five script elements
    assert config_of(index)["ledger"] == "https://x.mn/</script>&"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "Missing option '--key'"),
        (["--key", "not-a-key"], "--key 'not-a-key'"),
        (["--key", WITNESSES[0].key.vkey], "expected signature type 0x01"),  # a witness's key
        (["--key", LOG.verifier.vkey, "--key", OTHER_LOG.verifier.vkey], "name different logs"),
        (
            ["--key", LOG.verifier.vkey, "--witness", LOG.verifier.vkey],
            "expected signature type 0x04",
        ),
        (
            [
                "--key",
                LOG.verifier.vkey,
                "--witness",
                WITNESSES[0].key.vkey,
                "--min-cosignatures",
                "2",
            ],
            "--min-cosignatures 2: expected at least 2 distinct --witness keys, got 1",
        ),
        (
            ["--key", LOG.verifier.vkey, "--min-cosignatures", "1"],
            "--min-cosignatures 1: expected at least 1 distinct --witness keys, got 0",
        ),
        (
            ["--key", LOG.verifier.vkey, "--min-cosignatures", "-1"],
            "--min-cosignatures: expected 0 or more",
        ),
        (["--key", LOG.verifier.vkey, "--max-age", "0"], "--max-age: expected 1 second or more"),
        (
            ["--key", LOG.verifier.vkey, "--ledger", "ftp://ledger.mn"],
            "--ledger: expected an http(s)",
        ),
        (["--key", LOG.verifier.vkey, "--ledger", "https://l.mn/?x=1"], "without query"),
    ],
)
def test_bad_options_are_refused_and_nothing_is_written(
    tmp_path: Path, args: list[str], message: str
) -> None:
    site = tmp_path / "verifier"
    code, output = run(str(site), *args)
    assert code == 2, output
    assert message in " ".join(output.split()), output
    assert not site.exists()


def test_one_glossary_the_verifier_takes_the_pages_words() -> None:
    """Where the certificate pages already name a thing, the verifier says it in exactly
    their words (services/i18n.py); its own words are `verifier.*`, in both languages."""
    words = json.loads((SOURCE / "words.json").read_text(encoding="utf-8"))
    assert set(words) == {"mn", "en"}
    assert set(words["mn"]) == set(words["en"])
    for lang, table in (("mn", i18n.MN), ("en", i18n.EN)):
        for key, text in words[lang].items():
            if key in table:
                assert text == table[key], (lang, key)
            else:
                assert key.startswith("verifier."), (lang, key)
            assert text.strip(), (lang, key)
    # every word the page asks for exists
    index = (SOURCE / "index.html").read_text(encoding="utf-8")
    script = (SOURCE / "verifier.js").read_text(encoding="utf-8")
    asked = set(re.findall(r'data-t(?:-label)?="([^"]+)"', index))
    asked |= set(re.findall(r'\bt\("([a-z_]+\.[a-z_.]*[a-z_])"', script))
    assert asked and asked <= set(words["en"]), asked - set(words["en"])
    # and every named reason the page can give has its sentence
    given = set(re.findall(r'(?:Refusal|refuse)\("[a-z_]+", "([a-z_]+)"', script))
    assert {"unknown_key", "bad_signature", "no_ledger", "not_in_log", "unsupported"} <= given
    for reason in (
        given | STATUS_PROOF_REASONS | STATUS_REASONS | {"wrong_origin", "bad_checkpoint"}
    ):
        assert f"reason.{reason}" in words["en"] or f"verifier.reason.{reason}" in words["en"], (
            reason
        )


def test_one_copy_of_the_checks() -> None:
    """The service's certificate page and the exported verifier run the same file: the page
    inlines clients/verifier/altan-check.js, and no other file defines its functions."""
    shared = (SOURCE / "altan-check.js").read_text(encoding="utf-8")
    assert pages.VERIFY_JS.startswith(shared)
    glue = (REPO / "services/certificates/static/verify.js").read_text(encoding="utf-8")
    assert f"{shared}\n{glue}" == pages.VERIFY_JS
    found = []
    for path in [*REPO.glob("services/**/*.js"), *REPO.glob("clients/**/*.js")]:
        text = path.read_text(encoding="utf-8")
        for name in ("rootFromInclusionProof", "decodeCbor", "parseNote", "verifyMap"):
            if re.search(rf"function {name}\b", text):
                found.append((path.relative_to(REPO).as_posix(), name))
    assert sorted(found) == sorted(
        ("clients/verifier/altan-check.js", name)
        for name in ("rootFromInclusionProof", "decodeCbor", "parseNote", "verifyMap")
    )


def test_the_qr_decoder_is_vendored_with_its_licence() -> None:
    decoder = (SOURCE / "jsQR.js").read_bytes()
    notice = (SOURCE / "jsQR-NOTICE.txt").read_text(encoding="utf-8")
    assert hashlib.sha256(decoder).hexdigest() in notice
    assert "jsqr@1.4.0" in notice and "Apache License, Version 2.0" in notice
    licence = (SOURCE / "jsQR-LICENSE.txt").read_text(encoding="utf-8")
    assert licence.lstrip().startswith("Apache License")
    assert b"eval(" not in decoder and b"new Function" not in decoder  # runs under the CSP
    # and the package ships the site's files with the clients
    assert '"verifier/*"' in (REPO / "pyproject.toml").read_text(encoding="utf-8")
