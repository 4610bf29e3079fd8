"""Pages rendered on the server (the certificate pages, the report page): one way to build
their Jinja2 environment, to inline their assets, and the headers they are sent with.

Every page is self-contained: its style sheets and scripts are inlined from its package's
``static/`` folder and allowed by their hashes in a Content-Security-Policy, so nothing is
loaded from anywhere and nothing else runs.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

__all__ = ["csp_hash", "environment", "inline_asset", "page_headers"]


def environment(
    templates: Path,
    *,
    filters: Mapping[str, Callable[..., Any]] | None = None,
    globals: Mapping[str, Any] | None = None,
) -> Environment:
    """A Jinja2 environment over the `templates` folder, with autoescape on and undefined
    names an error (a typo in a template fails the render, never prints an empty string),
    blocks trimmed; `filters` and `globals` are added to it."""
    env = Environment(
        loader=FileSystemLoader(templates),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(filters or {})
    env.globals.update(globals or {})
    return env


def inline_asset(path: Path) -> str:
    """The text of a style sheet or script to inline in a page; refused (RuntimeError) when
    it could close its element or open a comment, since it is inserted verbatim."""
    text = path.read_text(encoding="utf-8")
    lowered = text.lower()
    if "</script" in lowered or "</style" in lowered or "<!--" in lowered:
        raise RuntimeError(
            f"{path.parent.name}/{path.name} may not contain '</script', '</style' or '<!--'"
        )
    return text


def csp_hash(text: str) -> str:
    """The CSP source that allows exactly this inline script or style: ``'sha256-<b64>'``."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def page_headers(csp: str) -> dict[str, str]:
    """The headers a page is sent with: its Content-Security-Policy, no MIME sniffing, and
    no Referer (a certificate's URL holds its token)."""
    return {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
