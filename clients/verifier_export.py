"""`altan verifier export DIR`: a static certificate verifier that anyone can host.

The certificate page of the service (`/c/{token}`) comes from the operator's own server, so
it can only check that server's consistency. This writes a small static site (HTML,
JavaScript and CSS, no server code) that a bank, the regulator or an association hosts on
its own domain::

    altan verifier export ./verifier --key 'altan.mn/log+1a2b3c4d+AX...' \\
        --witness 'w1.example+...' --witness 'w2.example+...' --min-cosignatures 2 \\
        --max-age 3600 --ledger https://ledger.altan.mn

On a phone it reads a certificate's QR code with the camera (or from a photo, or a pasted
address), asks the ledger `GET {ledger}/api/c/{token}` (a CORS GET; the service answers
`Access-Control-Allow-Origin: *` there) and checks, in the browser, against what is pinned
here: the token's signature, the checkpoint's signature and origin, the entry's inclusion,
the witness policy (K of the pinned witnesses cosigned within max age, or an older
checkpoint the latest provably extends), the status proof of the lot's state, and takes the
verdict from the proven state only. Mongolian by default, English on a switch.

What is written to DIR (files of the same name are replaced, nothing else is touched):

    index.html          the page, with the pinned configuration and the words inlined
                        (`<script type="application/json">`) and a Content-Security-Policy
                        that lets it load its own files and connect to the ledger only
    altan-check.js      the checks (the very file the service's certificate page inlines)
    verifier.js         the page's logic
    style.css
    jsQR.js             the QR decoder, vendored from the npm package jsqr 1.4.0 unmodified,
    jsQR-LICENSE.txt    with its licence (Apache-2.0)
    jsQR-NOTICE.txt     and where it came from
    SHA256SUMS          the hash of each file above, for the host to check a copy

The pinned configuration (`#altan-config` in index.html)::

    {"version": 1, "ledger": "https://..." | null, "log_keys": [vkey, ...],
     "witnesses": [vkey, ...], "min_cosignatures": K, "max_age": T}

Refused (exit status 2, with the reason): a log key that does not parse (a C2SP Ed25519
verifier key, type 0x01) or keys of two logs, a witness key that does not parse (type 0x04),
--min-cosignatures larger than the number of distinct witnesses, --max-age below 1 second, a
--ledger that is not an http(s) base URL.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Final
from urllib.parse import urlsplit

import typer
from rich.console import Console

from clients.verify import DEFAULT_MAX_AGE_SECONDS, pinned_witnesses
from ledger.checkpoint import pinned_origin
from ledger.errors import LedgerError, MalformedInput
from ledger.note import NoteVerifier

__all__ = [
    "ASSETS",
    "CONFIG_VERSION",
    "SOURCE",
    "VerifierConfig",
    "app",
    "content_security_policy",
    "export",
    "pinned_config",
]

SOURCE: Final = Path(__file__).resolve().parent / "verifier"
"""Where the site's files are kept (shipped with the clients as package data)."""

ASSETS: Final = (
    "altan-check.js",
    "verifier.js",
    "style.css",
    "jsQR.js",
    "jsQR-LICENSE.txt",
    "jsQR-NOTICE.txt",
)
"""Copied as they are; index.html is written from its template."""

CONFIG_VERSION: Final = 1
_PLACEHOLDERS: Final = ("__ALTAN_CSP__", "__ALTAN_CONFIG__", "__ALTAN_WORDS__")

app = typer.Typer(
    name="verifier",
    help="A static certificate verifier for a bank, the regulator or an association to host.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(stderr=True)


@dataclass(frozen=True)
class VerifierConfig:
    """What the exported verifier trusts: the log's keys, the witnesses and how many of
    them must have cosigned how recently, and the ledger to ask (None: the QR's)."""

    ledger: str | None
    log_keys: tuple[str, ...]
    witnesses: tuple[str, ...]
    min_cosignatures: int
    max_age: int

    def to_json(self) -> dict[str, Any]:
        """The JSON object inlined in index.html (`#altan-config`)."""
        return {
            "version": CONFIG_VERSION,
            "ledger": self.ledger,
            "log_keys": list(self.log_keys),
            "witnesses": list(self.witnesses),
            "min_cosignatures": self.min_cosignatures,
            "max_age": self.max_age,
        }


def _ledger_url(url: str) -> str:
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
    except ValueError as exc:
        raise MalformedInput(f"--ledger: expected an http(s) base URL, got {url[:100]!r}") from exc
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise MalformedInput(f"--ledger: expected an http(s):// base URL, got {url[:100]!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise MalformedInput(
            f"--ledger: expected a base URL without query, fragment or credentials, "
            f"got {url[:100]!r}"
        )
    return f"{parts.scheme.lower()}://{parts.netloc}{parts.path.rstrip('/')}"


def pinned_config(
    keys: list[str],
    witnesses: list[str],
    min_cosignatures: int,
    max_age: int,
    ledger: str | None,
) -> VerifierConfig:
    """Check the options and return what the verifier will pin.

    Raises MalformedInput or KeyProblem (ledger.errors) naming the option at fault.
    """
    if not keys:
        raise MalformedInput("give at least one --key (the log's verifier key)")
    verifiers = []
    for vkey in keys:
        try:
            verifiers.append(NoteVerifier.from_vkey(vkey))
        except MalformedInput as exc:
            raise MalformedInput(f"--key {vkey[:60]!r}: {exc}") from exc
    pinned_origin(v.name for v in verifiers)  # one log's keys
    quorum = pinned_witnesses(witnesses, min_cosignatures, max_age)
    return VerifierConfig(
        ledger=None if ledger is None else _ledger_url(ledger),
        log_keys=tuple(dict.fromkeys(v.vkey for v in verifiers)),
        witnesses=tuple(dict.fromkeys(w.vkey for w in quorum.witnesses)),
        min_cosignatures=quorum.required,
        max_age=quorum.max_age,
    )


def content_security_policy(config: VerifierConfig) -> str:
    """The page's policy: its own scripts and styles, images and camera frames from itself,
    and connections to the pinned ledger only (any https server when none is pinned: then
    it asks the one the QR names)."""
    if config.ledger is None:
        connect = "https:"
    else:
        parts = urlsplit(config.ledger)
        connect = f"{parts.scheme}://{parts.netloc}"
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' blob: data:",
            "media-src 'self' blob: mediastream:",
            f"connect-src {connect}",
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )


def _script_json(value: Any) -> str:
    """JSON safe inside a `<script type="application/json">` element (no `<`, `>`, `&`)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _attribute(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def render_index(config: VerifierConfig) -> str:
    """index.html with the configuration, the words and the policy filled in."""
    template = (SOURCE / "index.html").read_text(encoding="utf-8")
    words = json.loads((SOURCE / "words.json").read_text(encoding="utf-8"))
    for placeholder in _PLACEHOLDERS:
        if template.count(placeholder) != 1:
            raise RuntimeError(f"verifier/index.html must hold {placeholder} exactly once")
    return (
        template.replace("__ALTAN_CSP__", _attribute(content_security_policy(config)))
        .replace("__ALTAN_CONFIG__", _script_json(config.to_json()))
        .replace("__ALTAN_WORDS__", _script_json(words))
    )


def export(directory: Path, config: VerifierConfig) -> list[Path]:
    """Write the site into ``directory`` (made if missing); return the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes] = {"index.html": render_index(config).encode("utf-8")}
    for name in ASSETS:
        files[name] = (SOURCE / name).read_bytes()
    sums = "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in files.items())
    files["SHA256SUMS"] = sums.encode("ascii")
    written = []
    for name, data in files.items():
        path = directory / name
        path.write_bytes(data)
        written.append(path)
    return written


@app.command("export")
def export_command(
    directory: Annotated[Path, typer.Argument(help="Where to write the site (made if missing)")],
    key: Annotated[
        list[str],
        typer.Option("--key", help="The log's verifier key to pin (altan keys export); repeat"),
    ],
    witness: Annotated[
        list[str] | None,
        typer.Option(
            "--witness", help="A witness's vkey (<name>+<id>+<base64(0x04 || key)>); repeat"
        ),
    ] = None,
    min_cosignatures: Annotated[
        int,
        typer.Option(
            help="How many of the --witness keys must have cosigned the ledger's checkpoint "
            "(or an older one the latest extends); 0: no witness policy"
        ),
    ] = 0,
    max_age: Annotated[
        int,
        typer.Option(
            "--max-age",
            help="Count only cosignatures at most this many seconds old (an older witnessed "
            "checkpoint could hide a revocation or a sale)",
        ),
    ] = DEFAULT_MAX_AGE_SECONDS,
    ledger: Annotated[
        str | None,
        typer.Option(
            help="The ledger to ask (https://ledger.altan.mn); by default the one named in "
            "each QR code"
        ),
    ] = None,
) -> None:
    """Write a static verifier site pinned to these keys into DIRECTORY.

    Host the files on any web server (https: the camera needs a secure page). Exit status
    0 written; 2 an option refused (the reason on stderr), nothing written.
    """
    try:
        config = pinned_config(key, witness or [], min_cosignatures, max_age, ledger)
    except LedgerError as exc:
        console.print(f"error: {exc}", markup=False, highlight=False)
        raise typer.Exit(2) from exc
    written = export(directory, config)
    policy = (
        f"{config.min_cosignatures} of {len(config.witnesses)} witnesses within {config.max_age} s"
        if config.min_cosignatures
        else "no witness policy"
    )
    console.print(
        f"wrote {len(written)} files to {directory}: ledger "
        f"{config.ledger or '(the one in each QR code)'}, "
        f"{len(config.log_keys)} log key(s), {policy}",
        markup=False,
        highlight=False,
    )
