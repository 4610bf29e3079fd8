"""The certificate's QR code as a PNG, an SVG and a printable A5 or A6 page.

The QR text is ``https://<host>/c/<BASE32 token>`` (ledger.certificate.qr_text). It is
encoded in two segments: the URL up to and including ``/c/`` as bytes, the token as an
alphanumeric segment (5.5 bits a character instead of 8), at error correction level Q
(25 % of the code can be lost), with the standard 4-module quiet zone.

Speed: qrcode's own mask choice scores the 8 masks in pure Python (about 15 ms for a
version 12 code) and its PIL drawer is slow too. :func:`qr_code` scores the masks with the
same ISO/IEC 18004 penalty rules on bit strings (:func:`mask_penalty`, equal to
``qrcode.util.lost_point``), and :func:`qr_png` builds the image from the module matrix
with ``Image.frombytes`` and a NEAREST resize.
"""

from __future__ import annotations

import functools
import io
import itertools
import re
from typing import Final, Literal
from xml.sax.saxutils import escape as xml_escape

import qrcode
from PIL import Image
from qrcode.main import precomputed_qr_blanks
from qrcode.util import MODE_8BIT_BYTE, MODE_ALPHA_NUM, QRData, mask_func

from ledger.certificate import QR_PATH
from schemas.certificates import VerdictOut
from services.certificates.pages import PRINT_CSS, PRINT_PAGE_RULES, host_of, render

__all__ = ["mask_penalty", "print_page", "qr_code", "qr_png", "qr_svg"]

BORDER: Final = 4
"""The quiet zone, in modules (ISO/IEC 18004 asks for 4)."""

ERROR_CORRECTION: Final = qrcode.constants.ERROR_CORRECT_Q
MAX_BOX: Final = 64
"""The largest PNG module size in pixels accepted by :func:`qr_png`."""

_TOKEN_RE: Final = re.compile(r"[A-Z2-7]+")
_RUNS: Final = re.compile(r"0{5,}|1{5,}")
_FINDER_LIKE: Final = re.compile(r"(?=10111010000|00001011101)")
_MASKS: Final = range(8)
_DARK_RUN: Final = re.compile(rb"\x01+")


def mask_penalty(modules: list[list[bool]]) -> int:
    """The ISO/IEC 18004 §7.8.3 penalty of a module matrix, as ``qrcode.util.lost_point``.

    N1 runs of 5+ same-colour modules in a row or column (length - 2 each), N2 2x2 blocks
    of one colour (3 each), N3 finder-like 1:1:3:1:1 patterns with 4 light modules on one
    side (40 each), N4 the dark share's distance from 50 % (10 per full 5 %).
    """
    return _penalty_of_rows(["".join("1" if cell else "0" for cell in row) for row in modules])


def _penalty_of_rows(rows: list[str]) -> int:
    n = len(rows)
    # rows and columns in one text, split by a character no pattern matches
    lines = "|".join(rows + ["".join(column) for column in zip(*rows, strict=True)])
    n1 = sum(len(run) - 2 for run in _RUNS.findall(lines))
    n3 = 40 * len(_FINDER_LIKE.findall(lines))
    bits = [int(row, 2) for row in rows]
    inner = (1 << (n - 1)) - 1  # a 2x2 block starts at columns 0 .. n-2
    blocks = 0
    for top, bottom in itertools.pairwise(bits):
        differ = (top ^ (top >> 1)) | (bottom ^ (bottom >> 1)) | (top ^ bottom)
        blocks += (~differ & inner).bit_count()
    dark = sum(row.count("1") for row in rows)
    n4 = int(abs(float(dark) / (n * n) * 100 - 50) / 5) * 10
    return n1 + 3 * blocks + n3 + n4


@functools.cache
def _layout(version: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Per row, as ints (column 0 the top bit): the data modules, and the function modules
    that are dark with format and version information left light (qrcode's test layout)."""
    scratch = qrcode.QRCode(version=version, error_correction=ERROR_CORRECTION)
    scratch.makeImpl(True, 0)  # also fills qrcode's table of blank layouts for this version
    scratch.modules = [row[:] for row in precomputed_qr_blanks[version]]
    scratch.setup_type_info(True, 0)
    if version >= 7:
        scratch.setup_type_number(True)
    data = tuple(int("".join("1" if c is None else "0" for c in row), 2) for row in scratch.modules)
    dark = tuple(int("".join("1" if c else "0" for c in row), 2) for row in scratch.modules)
    return data, dark


@functools.cache
def _mask_rows(version: int, mask: int) -> tuple[int, ...]:
    n = version * 4 + 17
    inverts = mask_func(mask)
    return tuple(int("".join("1" if inverts(i, j) else "0" for j in range(n)), 2) for i in range(n))


def _remask(qr: qrcode.QRCode) -> None:
    """Give ``qr`` (made with mask 0) the mask qrcode's ``best_mask_pattern`` would choose
    (lowest penalty, first on ties), without its 8 ``map_data`` runs: the unmasked data bits
    are recovered once and re-masked as row ints."""
    version: int = qr.version
    n = version * 4 + 17
    data, dark = _layout(version)
    rows0 = [int("".join("1" if c else "0" for c in row), 2) for row in qr.modules]
    plain = [(r ^ m) & d for r, m, d in zip(rows0, _mask_rows(version, 0), data, strict=True)]
    best, lowest, best_rows = 0, -1, rows0
    for mask in _MASKS:
        masked = [
            (p ^ m) & d for p, m, d in zip(plain, _mask_rows(version, mask), data, strict=True)
        ]
        test_rows = [f | r for f, r in zip(dark, masked, strict=True)]
        penalty = _penalty_of_rows([format(r, f"0{n}b") for r in test_rows])
        if lowest < 0 or penalty < lowest:
            best, lowest = mask, penalty
            best_rows = [(r0 & ~d) | r for r0, d, r in zip(rows0, data, masked, strict=True)]
    qr.mask_pattern = best
    if best:
        qr.modules = [[c == "1" for c in format(r, f"0{n}b")] for r in best_rows]
        qr.setup_type_info(False, best)  # the format information names the mask


def qr_code(text: str) -> qrcode.QRCode:
    """The QR code of a certificate URL, made (version fitted, best mask chosen).

    ``https://host/c/`` is a byte segment and the base32 token an alphanumeric one; a text
    that is not ``<url>/c/<BASE32>`` is stored whole as bytes. Error correction Q, border 4.
    The result equals ``qr.make(fit=True)`` on the same segments, several times faster.
    """
    qr = qrcode.QRCode(error_correction=ERROR_CORRECTION, border=BORDER, box_size=1)
    cut = text.rfind(QR_PATH)
    token = text[cut + len(QR_PATH) :] if cut >= 0 else ""
    if cut >= 0 and _TOKEN_RE.fullmatch(token):
        qr.add_data(QRData(text[: cut + len(QR_PATH)].encode("utf-8"), mode=MODE_8BIT_BYTE))
        qr.add_data(QRData(token.encode("ascii"), mode=MODE_ALPHA_NUM))
    else:
        qr.add_data(QRData(text.encode("utf-8"), mode=MODE_8BIT_BYTE))
    qr.best_fit(start=None)
    qr.makeImpl(False, 0)
    _remask(qr)
    return qr


_TO_PIXELS: Final = bytes.maketrans(b"\x00\x01", b"\xff\x00")  # light white, dark black


@functools.lru_cache(maxsize=256)
def _matrix(text: str) -> tuple[bytes, ...]:
    """The module rows of ``text``'s QR code with the quiet zone, 1 = dark (cached: the PNG,
    SVG and print page of one certificate are often asked for together)."""
    return tuple(bytes(row) for row in qr_code(text).get_matrix())


def qr_png(text: str, box: int = 8) -> bytes:
    """The QR code of ``text`` as a 1-bit PNG, ``box`` pixels a module (quiet zone included)."""
    if not 1 <= box <= MAX_BOX:
        raise ValueError(f"box: expected 1..{MAX_BOX} pixels, found {box}")
    matrix = _matrix(text)
    n = len(matrix)
    image = Image.frombytes("L", (n, n), b"".join(matrix).translate(_TO_PIXELS))
    if box > 1:
        image = image.resize((n * box, n * box), Image.Resampling.NEAREST)
    out = io.BytesIO()
    image.convert("1", dither=Image.Dither.NONE).save(out, format="PNG")
    return out.getvalue()


def qr_svg(text: str) -> str:
    """The QR code of ``text`` as a compact SVG: one path of the dark modules, the viewBox in
    modules (quiet zone included), a white background and a title holding ``text``.

    Each run of dark modules in a row is a 1-module-wide stroke along the row's middle
    (``M<x> <y>.5h<length>``, butt caps), half the size of filled rectangles."""
    matrix = _matrix(text)
    n = len(matrix)
    path = "".join(
        f"M{run.start()} {y}.5h{len(run[0])}"
        for y, row in enumerate(matrix)
        for run in _DARK_RUN.finditer(row)
    )
    title = xml_escape(text, {'"': "&quot;"})
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {n} {n}" '
        f'shape-rendering="crispEdges" role="img">'
        f"<title>{title}</title>"
        f'<rect width="{n}" height="{n}" fill="#fff"/>'
        f'<path fill="none" stroke="#000" d="{path}"/>'
        "</svg>"
    )


def _sites_text(view: VerdictOut) -> str:
    cert = view.certificate
    assert cert is not None
    count = f"{cert.origin.sites:,}"
    if view.lot is None or not view.lot.sites:
        return count
    names = [
        ", ".join(part for part in (s.site, s.soum, s.aimag) if part) for s in view.lot.sites[:3]
    ]
    more = " …" if len(view.lot.sites) > 3 else ""
    return f"{count}: " + "; ".join(names) + more


def print_page(
    view: VerdictOut, qr_text: str, size: Literal["A5", "A6"], lang: Literal["mn", "en"]
) -> str:
    """A printable HTML page: the QR code (inline SVG), the lot's facts and how to verify.

    ``size`` sets the CSS ``@page`` (A5 or A6, portrait). A view that is not genuine is
    still rendered, with a warning above the code; one without a certificate (malformed)
    shows the code and no facts. Nothing is loaded from elsewhere.
    """
    if size not in PRINT_PAGE_RULES:
        raise ValueError(f"size: expected A5 or A6, found {size!r}")
    cert = view.certificate
    return render(
        "print.html",
        lang,
        view=view,
        cert=cert,
        size=size,
        kind=cert.kind if cert is not None else "gold_lot",
        svg=qr_svg(qr_text),
        qr_text=qr_text,
        host=host_of(qr_text),
        sites=_sites_text(view) if cert is not None else "",
        page_rule=PRINT_PAGE_RULES[size],
        css=PRINT_CSS,
    )
