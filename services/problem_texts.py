"""The words of the API's problems, in English and Mongolian: one glossary of rules.

A problem (RFC 9457, `services.problems`) lists every mistake of a request in `errors`,
each with its `field`, a stable `rule` slug and a plain-language `detail` that a centre
clerk can act on. This module holds those sentences, so that no detail ever shows a
regular expression or pydantic's own message ("String should match pattern '^[A-Z]...'"):

- `FIELD_RULES`: what a value must be, per kind of schema error (pydantic's error types
  and the custom ones of `schemas.types`, written with hyphens: `string-too-long`);
- `PATTERNS`: each `pattern=` of the schemas, said in words with an example;
- `RULES`: the domain and edge rules (`services.errors`, `services.bodies`, the limits),
  a sentence each; the service's own English detail (masses, ids) is kept beside it.

The language is chosen by `Accept-Language` (`negotiate`). The API defaults to English:
its clients are programs (the SDK, the outbox, scripts) that send no `Accept-Language`,
and their logs are read by the operators; a clerk's app asks for `mn` and gets Mongolian.
(The certificate pages, read by people holding a phone, default to Mongolian instead.)
Field names are glossed with the certificate pages' own terms (`services.i18n`)
so that the same thing has one name everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from services.field_errors import FieldError
from services.i18n import EN as PAGE_EN
from services.i18n import MN as PAGE_MN
from services.i18n import Lang

API_DEFAULT_LANG: Final[Lang] = "en"


@dataclass(frozen=True)
class Words:
    """One text in both languages; `{name}` fields are filled from the error's params."""

    en: str
    mn: str

    def __call__(self, lang: Lang, params: Mapping[str, Any] | None = None) -> str:
        text = self.mn if lang == "mn" else self.en
        return text.format_map(_Params(params or {})) if "{" in text else text


class _Params(dict[str, str]):
    """Params for `str.format_map`: plain strings, `?` for one that is missing."""

    def __init__(self, params: Mapping[str, Any]) -> None:
        super().__init__({k: _plain(v) for k, v in params.items()})

    def __missing__(self, key: str) -> str:
        return "?"


def _plain(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(_plain(v) for v in value)
    return str(value)


def negotiate(accept_language: str | None) -> Lang:
    """The language to answer in from an `Accept-Language` header (RFC 9110 §12.5.4):
    the supported language with the highest weight (`mn`, `mn-MN`, `mn-Cyrl-MN` are
    Mongolian; `en-*` English; `*` the default); English without a header or a match."""
    if not accept_language:
        return API_DEFAULT_LANG
    best: tuple[float, int, Lang] | None = None
    for order, part in enumerate(accept_language.split(",")[:32]):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().split("-", 1)[0].lower()
        lang: Lang | None = {"mn": "mn", "en": "en", "*": API_DEFAULT_LANG}.get(primary)  # type: ignore[assignment]
        if lang is None:
            continue
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if not 0.0 < weight <= 1.0:
            continue
        if best is None or (weight, -order) > (best[0], -best[1]):
            best = (weight, order, lang)
    return best[2] if best is not None else API_DEFAULT_LANG


# -- what a value must be --------------------------------------------------------------------

_WHOLE = Words("must be a whole number, like 1200", "бүхэл тоо байх ёстой, жишээ нь 1200")
_NUMBER = Words("must be a number, like 47.5", "тоо байх ёстой, жишээ нь 47.5")
_BOOL = Words("must be true or false, without quotes", "хашилтгүйгээр true эсвэл false байх ёстой")
_TEXT = Words("must be text in double quotes", "давхар хашилтад бичсэн текст байх ёстой")
_OBJECT = Words(
    "must be a JSON object of named fields", "нэртэй талбаруудтай JSON объект байх ёстой"
)
_LIST = Words("must be a list", "жагсаалт байх ёстой")
_ONE_OF = Words("must be one of: {expected}", "дараахын аль нэг байх ёстой: {expected}")
_MOMENT = Words(
    "must be a date and time with its UTC offset, written like 2026-09-14T10:12:00+08:00",
    "огноо, цагийг UTC-ээс зөрөх цагтай нь 2026-09-14T10:12:00+08:00 гэж бичнэ",
)
_NOT_A_MOMENT = Words(
    "is not a real date and time: check the month (01 to 12), the day, the hour (00 to "
    "23), the minutes and seconds (00 to 59)",
    "бодит огноо, цаг биш байна: сар (01-12), өдөр, цаг (00-23), минут, секунд (00-59)-ээ "
    "шалгана уу",
)
_BAD_OFFSET = Words(
    "has an impossible UTC offset: it must lie between -14:00 and +14:00 (Mongolia is +08:00)",
    "UTC-ээс зөрөх цаг боломжгүй байна: -14:00 болон +14:00-ийн хооронд байх ёстой "
    "(Монгол Улс +08:00)",
)
_DAY = Words("must be a date written like 2026-09-10", "огноог 2026-09-10 гэж бичнэ")
_NOT_A_DAY = Words(
    "is not a real date: check the month (01 to 12) and the day",
    "бодит огноо биш байна: сар (01-12), өдрөө шалгана уу",
)
_TOO_EARLY = Words(
    "is before {floor}: no event of the ledger is that old",
    "{floor}-ээс өмнөх огноо байна: бүртгэлд ийм хуучин үйл явдал байхгүй",
)

FIELD_RULES: Final[dict[str, Words]] = {
    "missing": Words("is required", "заавал бөглөх ёстой"),
    "extra-forbidden": Words(
        "is not a field of this form: remove it, or check its spelling",
        "энэ маягтад ийм талбар байхгүй: хасах эсвэл нэрийн бичлэгийг шалгана уу",
    ),
    "string-type": _TEXT,
    "string-sub-type": _TEXT,
    "string-unicode": _TEXT,
    # a pattern is said in words (PATTERNS); this for one the glossary does not know
    "string-pattern-mismatch": Words(
        "is not written in the expected form (see the field's example in /docs)",
        "хүлээгдэж буй хэлбэрээр бичигдээгүй байна (/docs дахь жишээг үзнэ үү)",
    ),
    "string-too-short": Words(
        "must have at least {min_length} character(s)",
        "хамгийн багадаа {min_length} тэмдэгт байх ёстой",
    ),
    "string-too-long": Words(
        "must have at most {max_length} characters",
        "хамгийн ихдээ {max_length} тэмдэгт байх ёстой",
    ),
    "int-type": _WHOLE,
    "int-parsing": _WHOLE,
    "int-from-float": _WHOLE,
    "int-parsing-size": Words("is too large a number", "хэт их тоо байна"),
    "float-type": _NUMBER,
    "float-parsing": _NUMBER,
    "finite-number": _NUMBER,
    "decimal-type": _NUMBER,
    "decimal-parsing": _NUMBER,
    "decimal-max-digits": Words(
        "has too many digits (at most {max_digits})",
        "хэт олон оронтой байна (хамгийн ихдээ {max_digits})",
    ),
    "decimal-max-places": Words(
        "has too many decimals (at most {decimal_places})",
        "аравтын бутархайн орон хэт олон байна (хамгийн ихдээ {decimal_places})",
    ),
    "bool-type": _BOOL,
    "bool-parsing": _BOOL,
    "greater-than": Words("must be more than {gt}", "{gt} гэсэн тооноос их байх ёстой"),
    "greater-than-equal": Words("must be {ge} or more", "хамгийн багадаа {ge} байх ёстой"),
    "less-than": Words("must be less than {lt}", "{lt} гэсэн тооноос бага байх ёстой"),
    "less-than-equal": Words("must be {le} or less", "хамгийн ихдээ {le} байх ёстой"),
    "multiple-of": Words(
        "must be a multiple of {multiple_of}", "{multiple_of} гэсэн тоонд хуваагддаг байх ёстой"
    ),
    "too-short": Words(
        "must have at least {min_length} item(s)", "хамгийн багадаа {min_length} зүйлтэй байх ёстой"
    ),
    "too-long": Words(
        "must have at most {max_length} items", "хамгийн ихдээ {max_length} зүйлтэй байх ёстой"
    ),
    "literal-error": _ONE_OF,
    "enum": _ONE_OF,
    "dict-type": _OBJECT,
    "model-type": _OBJECT,
    "model-attributes-type": _OBJECT,
    "list-type": _LIST,
    "tuple-type": _LIST,
    "set-type": _LIST,
    "is-instance-of": Words("is not of the expected kind", "хүлээгдэж буй төрлийн биш байна"),
    "union-tag-invalid": Words(
        "is not a known kind: it must be one of {expected_tags}",
        "танигдаагүй төрөл: дараахын нэг байх ёстой: {expected_tags}",
    ),
    "union-tag-not-found": Words(
        "must say which kind it is (field {discriminator})",
        "аль төрөл болохыг заах ёстой ({discriminator} талбар)",
    ),
    "json-invalid": Words("is not valid JSON", "JSON бичлэг буруу байна"),
    "json-type": Words("must be JSON", "JSON байх ёстой"),
    "none-required": Words("must be left out (null)", "хоосон (null) байх ёстой"),
    "url-parsing": Words(
        "must be a web address, like https://example.mn",
        "вэб хаяг байх ёстой, жишээ нь https://example.mn",
    ),
    "url-scheme": Words(
        "must start with http:// or https://", "http:// эсвэл https://-ээр эхлэх ёстой"
    ),
    # schemas.types and schemas.api (custom kinds)
    "date-time": _MOMENT,
    "date-time-too-early": _TOO_EARLY,
    "date": _DAY,
    "date-out-of-range": Words(
        "must have a year between 1900 and 2199", "он нь 1900-2199 хооронд байх ёстой"
    ),
    "date-too-early": _TOO_EARLY,
    "control-character": Words(
        "holds a character that cannot be kept (U+{code}, position {pos}): remove control "
        "characters and hidden direction marks",
        "хадгалах боломжгүй тэмдэгт агуулж байна (U+{code}, {pos}-р байрлал): удирдах "
        "тэмдэгт болон далд чиглэлийн тэмдгийг арилгана уу",
    ),
    "blank": Words("must contain a visible character", "харагдах тэмдэгттэй байх ёстой"),
    "salt": Words(
        "must be exactly 64 lowercase hexadecimal digits (0-9, a-f), nothing else",
        "яг 64 оронтой, жижиг үсгийн арван зургаатын тоо (0-9, a-f) байх ёстой",
    ),
    "value-error": Words("is not a valid value", "зөвшөөрөгдөх утга биш байна"),
    "assertion-error": Words("is not a valid value", "зөвшөөрөгдөх утга биш байна"),
    "invalid": Words("is not a valid value", "зөвшөөрөгдөх утга биш байна"),
}

# -- the forms a value must be written in --------------------------------------------------


def _hex(n: int, example: str) -> Words:
    return Words(
        f"{n} lowercase hexadecimal digits (0-9, a-f), like {example}",
        f"{n} оронтой, жижиг үсгийн арван зургаатын тоо (0-9, a-f), жишээ нь {example}",
    )


PATTERNS: Final[dict[str, Words]] = {
    r"^[0-9a-f]{8}$": _hex(8, "3e1c4a7b"),
    r"^[0-9a-f]{32}$": _hex(32, "0f3a...(32)"),
    r"^[0-9a-f]{64}$": _hex(64, "9b2c...(64)"),
    r"^[a-z_]+:[a-z0-9][a-z0-9._-]{0,62}$": Words(
        "a role and a name joined by a colon, in small Latin letters, digits, '.', '_' or "
        "'-', like miner:bat-erdene",
        "үүрэг ба нэрийг хоёр цэгээр холбосон, жижиг латин үсэг, тоо, '.', '_', '-' "
        "тэмдэгтээс бүрдсэн нэр, жишээ нь miner:bat-erdene",
    ),
    r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$": Words(
        "up to 64 Latin letters, digits, '.', '_', ':' or '-', starting with a letter or a "
        "digit, like ORE-2026-000123",
        "латин үсэг эсвэл тоогоор эхэлсэн, латин үсэг, тоо, '.', '_', ':', '-' тэмдэгтээс "
        "бүрдсэн 64 хүртэл тэмдэгт, жишээ нь ORE-2026-000123",
    ),
    r"^[A-Za-z0-9+/]{43}=$": Words(
        "an Ed25519 public key in base64: 44 characters ending in '='",
        "base64-өөр бичсэн Ed25519 нийтийн түлхүүр: '='-ээр төгссөн 44 тэмдэгт",
    ),
    r"^-?\d{1,2}\.\d{1,6}$": Words(
        "a latitude in decimal degrees with 1 to 6 decimals, like 47.918",
        "өргөрөг, аравтын бутархай градусаар (1-6 орон), жишээ нь 47.918",
    ),
    r"^-?\d{1,3}\.\d{1,6}$": Words(
        "a longitude in decimal degrees with 1 to 6 decimals, like 106.917",
        "уртраг, аравтын бутархай градусаар (1-6 орон), жишээ нь 106.917",
    ),
    r"^[A-Z]{2}$": Words(
        "a two-letter country code in capitals, like MN",
        "улсын хоёр том үсэгтэй код, жишээ нь MN",
    ),
    r"^[A-Z2-7]{16,1024}$": Words(
        "a base32 code: capital Latin letters and the digits 2 to 7",
        "base32 код: латин том үсэг болон 2-7 хүртэлх тоо",
    ),
    r"^[!-*,-~]{1,200}$": Words(
        "a witness key name of printable characters without spaces or '+', like "
        "witness.example.mn/w1",
        "гэрчийн түлхүүрийн нэр, хоосон зай болон '+'-гүй хэвлэгдэх тэмдэгтээр, жишээ нь "
        "witness.example.mn/w1",
    ),
    r"^[!-*,-~]{1,200}\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}$": Words(
        "a witness verifier key: its name, '+', its 8-digit key id, '+', its base64 key",
        "гэрчийн шалгах түлхүүр: нэр, '+', 8 оронтой түлхүүрийн ID, '+', base64 түлхүүр",
    ),
    r"^https?://[!-~]{1,280}$": Words(
        "an http:// or https:// address without spaces, like https://witness.example.mn",
        "хоосон зайгүй http:// эсвэл https:// хаяг, жишээ нь https://witness.example.mn",
    ),
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$": Words(
        "a date and time with its UTC offset, like 2026-09-14T10:12:00+08:00",
        "UTC-ээс зөрөх цагтай огноо, цаг, жишээ нь 2026-09-14T10:12:00+08:00",
    ),
    r"^\d{4}-\d{2}-\d{2}$": Words("a date like 2026-09-10", "огноо, жишээ нь 2026-09-10"),
}

# -- the rules of the domain and of the edge -----------------------------------------------

RULES: Final[dict[str, Words]] = {
    # the token
    "missing-token": Words(
        "Sign in: send your access token (Authorization: Bearer ...).",
        "Нэвтэрнэ үү: хандах эрхийн токеноо илгээнэ үү (Authorization: Bearer ...).",
    ),
    "bad-token": Words("The access token is not valid.", "Хандах эрхийн токен хүчингүй байна."),
    "unknown-token": Words(
        "The access token is unknown or revoked.",
        "Хандах эрхийн токен танигдахгүй эсвэл хүчингүй болсон байна.",
    ),
    "caller-not-active": Words(
        "Your account is suspended or revoked.",
        "Таны бүртгэлийг түдгэлзүүлсэн эсвэл хүчингүй болгосон.",
    ),
    "too-many-tokens": Words(
        "This actor has too many live tokens; revoke one first.",
        "Энэ оролцогчид хэт олон хүчинтэй токен байна; эхлээд нэгийг нь хүчингүй болгоно уу.",
    ),
    # staff and the console's sign-in (services.staff)
    "sign-in-failed": Words(
        "The username or the password is wrong.",
        "Хэрэглэгчийн нэр эсвэл нууц үг буруу байна.",
    ),
    "too-many-sign-ins": Words(
        "Too many failed sign-ins; wait a while and try again.",
        "Хэт олон удаа буруу нэвтэрсэн байна; хэсэг хүлээгээд дахин оролдоно уу.",
    ),
    "not-signed-in": Words("Sign in to the console first.", "Эхлээд самбарт нэвтэрнэ үү."),
    "csrf-failed": Words(
        "The form is out of date; reload the page and send it again.",
        "Маягтын хугацаа дууссан байна; хуудсаа дахин ачаалаад дахин илгээнэ үү.",
    ),
    "weak-password": Words(
        "A password is 10 to 256 characters long.",
        "Нууц үг 10-аас 256 тэмдэгт байна.",
    ),
    "password-is-username": Words(
        "The password must not be the username.",
        "Нууц үг хэрэглэгчийн нэртэй ижил байж болохгүй.",
    ),
    "bad-username": Words(
        "A username is 3 to 64 letters, digits, dots, dashes, underscores or @, without spaces.",
        "Хэрэглэгчийн нэр 3-аас 64 үсэг, тоо, цэг, зураас, доогуур зураас эсвэл @ байна, "
        "хоосон зайгүй.",
    ),
    "bad-display-name": Words(
        "A display name is 1 to 200 characters.",
        "Харагдах нэр 1-ээс 200 тэмдэгт байна.",
    ),
    "username-taken": Words(
        "This username is taken; choose another.",
        "Энэ хэрэглэгчийн нэрийг аль хэдийн ашигласан байна; өөрийг сонгоно уу.",
    ),
    "unknown-staff": Words(
        "No such staff member, or none that you may see.",
        "Ийм ажилтан алга, эсвэл танд харах эрх байхгүй.",
    ),
    "passkey-refused": Words(
        "The passkey was not accepted; try again.",
        "Түлхүүрийг (passkey) хүлээн авсангүй; дахин оролдоно уу.",
    ),
    # may not
    "not-allowed": Words(
        "Your role may not do this.", "Таны үүрэгт энэ үйлдлийг хийх эрх байхгүй."
    ),
    "role-not-allowed": Words(
        "Your role may not record this kind of event.",
        "Таны үүрэгт энэ төрлийн үйлдлийг бүртгэх эрх байхгүй.",
    ),
    "role-outranked": Words(
        "You may not change the status of an equal or higher role.",
        "Өөртэйгөө ижил эсвэл дээд үүргийн төлөвийг өөрчлөх эрхгүй.",
    ),
    "own-status": Words("You may not change your own status.", "Өөрийн төлөвийг өөрчлөх эрхгүй."),
    "last-administrator": Words(
        "The last active administrator cannot be removed.",
        "Сүүлийн идэвхтэй администраторыг хасах боломжгүй.",
    ),
    "not-custodian": Words(
        "Only the lot's custodian may do this.", "Үүнийг зөвхөн багцын хадгалагч хийж болно."
    ),
    "not-a-party": Words(
        "You are not a party to this record.", "Та энэ бичлэгийн оролцогч биш байна."
    ),
    "not-own-key": Words("The key is not yours.", "Энэ түлхүүр таных биш."),
    # lists
    "bad-cursor": Words(
        "The cursor is not valid: send the previous page's next_cursor unchanged.",
        "Хуудасны заагч (cursor) буруу байна: өмнөх хуудасны next_cursor-г өөрчлөлгүй илгээнэ үү.",
    ),
    # not found, conflicts
    "not-found": Words("Nothing has this id.", "Ийм дугаартай бичлэг олдсонгүй."),
    "unknown-actor": Words("No actor has this id.", "Ийм оролцогч бүртгэлгүй байна."),
    "unknown-lot": Words("No lot has this id.", "Ийм багц бүртгэлгүй байна."),
    "unknown-site": Words("No mining site has this id.", "Ийм уурхайн талбай бүртгэлгүй байна."),
    "unknown-centre": Words(
        "No processing centre has this id.", "Ийм боловсруулах төв бүртгэлгүй байна."
    ),
    "unknown-event-type": Words(
        "The ledger records no event of this type.", "Бүртгэл ийм төрлийн үйлдэл бүртгэдэггүй."
    ),
    "lot-exists": Words(
        "A lot with this id is already recorded.", "Ийм дугаартай багц аль хэдийн бүртгэгдсэн."
    ),
    "actor-exists": Words(
        "An actor with this id is already registered.", "Ийм оролцогч аль хэдийн бүртгэгдсэн."
    ),
    "site-exists": Words(
        "A site with this id is already registered.", "Ийм талбай аль хэдийн бүртгэгдсэн."
    ),
    "idempotency-key-reused": Words(
        "This Idempotency-Key was already used for a different request.",
        "Энэ Idempotency-Key-г өөр хүсэлтэд аль хэдийн ашигласан байна.",
    ),
    "idempotency-key-in-flight": Words(
        "A request with this Idempotency-Key is being recorded; try again.",
        "Энэ Idempotency-Key-тэй хүсэлт бүртгэгдэж байна; дахин оролдоно уу.",
    ),
    # the state of things
    "actor-not-active": Words(
        "The actor is suspended or revoked.", "Оролцогчийг түдгэлзүүлсэн эсвэл хүчингүй болгосон."
    ),
    "miner-not-active": Words(
        "The miner is suspended or revoked.",
        "Бичил уурхайчныг түдгэлзүүлсэн эсвэл хүчингүй болгосон.",
    ),
    "site-not-active": Words("The mining site is not active.", "Уурхайн талбай идэвхгүй байна."),
    "site-closed": Words("The mining site is closed.", "Уурхайн талбай хаагдсан."),
    "lot-not-active": Words(
        "The lot is no longer active (processed, split, merged, sold or exported).",
        "Багц идэвхгүй болсон (боловсруулсан, хуваасан, нэгтгэсэн, худалдсан эсвэл экспортолсон).",
    ),
    "held": Words(
        "The lot is held because of an open case and cannot be traded now.",
        "Багцыг нээлттэй хэргийн улмаас саатуулсан тул одоо худалдах боломжгүй.",
    ),
    "mass-exceeds-remaining": Words(
        "The mass is more than what remains of the lot.", "Жин нь багцын үлдэгдэл жингээс их байна."
    ),
    "mass-not-conserved": Words(
        "The masses do not add up: the outputs must weigh what the inputs weigh.",
        "Жин таарахгүй байна: гарц нь орцтой ижил жинтэй байх ёстой.",
    ),
    "gold-exceeds-ore": Words(
        "The gold recovered is more than the ore could hold.",
        "Гарсан алт хүдэрт агуулагдах боломжтой хэмжээнээс их байна.",
    ),
    "outputs-exceed-ore": Words(
        "The outputs weigh more than the ore processed.",
        "Гарцын жин боловсруулсан хүдрийн жингээс их байна.",
    ),
    "mined-after-delivery": Words(
        "The ore cannot be mined after it was delivered.",
        "Хүдрийг хүлээлгэн өгсний дараа олборлох боломжгүй.",
    ),
    "in-the-future": Words(
        "The time is later than now: record events once they have happened.",
        "Цаг нь одооноос хойш байна: үйл явдал болсны дараа бүртгэнэ үү.",
    ),
    "offer-not-open": Words(
        "The transfer offer is no longer open.", "Шилжүүлэх санал хүчинтэй байхаа больсон."
    ),
    "offer-open": Words(
        "The lot already has an open transfer offer.", "Багцад нээлттэй шилжүүлэх санал байна."
    ),
    "offer-to-self": Words(
        "A lot cannot be offered to its own custodian.",
        "Багцыг өөрийн хадгалагчид санал болгох боломжгүй.",
    ),
    "commitment-mismatch": Words(
        "The private data does not match its commitment in the body.",
        "Нууц мэдээлэл нь үндсэн мэдээлэл дэх баталгаатай таарахгүй байна.",
    ),
    "signature-required": Words(
        "This event must carry the actor's own signature.",
        "Энэ үйлдэл оролцогчийн өөрийн гарын үсэгтэй байх ёстой.",
    ),
    "bad-actor-signature": Words(
        "The actor's signature is not valid.", "Оролцогчийн гарын үсэг хүчингүй байна."
    ),
    # the whole request
    "invalid-body": Words("The event's body is not valid.", "Үйлдлийн мэдээлэл буруу байна."),
    "invalid-json": Words("The request is not valid JSON.", "Хүсэлт нь зөв JSON биш байна."),
    "duplicate-key": Words(
        "A field appears twice in one object.", "Нэг объект дотор ижил талбар хоёр удаа байна."
    ),
    "not-utf8": Words("The request must be UTF-8 text.", "Хүсэлт UTF-8 текст байх ёстой."),
    "too-deep": Words("The request is nested too deeply.", "Хүсэлт хэт гүн давхарласан байна."),
    "not-a-number": Words("NaN and Infinity are not numbers.", "NaN, Infinity нь тоо биш."),
    "invalid-value": Words(
        "A value cannot be stored (a control character, or too long); nothing was recorded.",
        "Утгыг хадгалах боломжгүй (удирдах тэмдэгт эсвэл хэт урт); юу ч бүртгэгдсэнгүй.",
    ),
    "batch-aborted": Words(
        "Not recorded: another item of this all-or-nothing batch failed.",
        'Бүртгэгдсэнгүй: "бүгд эсвэл юу ч үгүй" багцын өөр зүйл алдаатай байсан.',
    ),
    "batch-failed": Words(
        "Nothing of this all-or-nothing batch was recorded: fix the items listed and send it "
        "again.",
        '"Бүгд эсвэл юу ч үгүй" багцаас юу ч бүртгэгдсэнгүй: жагсаасан зүйлсийг засаад '
        "дахин илгээнэ үү.",
    ),
    "body-missing": Words(
        "The request needs a JSON body.", "Хүсэлтэд JSON мэдээлэл хавсаргах ёстой."
    ),
    "batch-too-large": Words("The batch has too many items.", "Багцад хэт олон зүйл байна."),
    "body-too-large": Words("The request is too large.", "Хүсэлт хэт том байна."),
    "too-many-requests": Words(
        "Too many requests: wait and try again.",
        "Хэт олон хүсэлт: түр хүлээгээд дахин оролдоно уу.",
    ),
    "database-unavailable": Words(
        "The service cannot reach its database right now; try again later.",
        "Үйлчилгээ мэдээллийн сантайгаа одоогоор холбогдож чадахгүй байна; дараа дахин "
        "оролдоно уу.",
    ),
    "method-not-allowed": Words(
        "This address does not take this method.", "Энэ хаяг энэ аргыг хүлээн авдаггүй."
    ),
    "internal-error": Words(
        "The service failed; nothing was recorded.",
        "Үйлчилгээнд алдаа гарлаа; юу ч бүртгэгдсэнгүй.",
    ),
}

# Titles in Mongolian by status, for a rule without a sentence of its own.
_STATUS_TITLES: Final[dict[int, Words]] = {
    400: Words("Bad request", "Хүсэлт буруу байна"),
    401: Words("Not signed in", "Нэвтрээгүй байна"),
    403: Words("Not allowed", "Зөвшөөрөлгүй"),
    404: Words("Not found", "Олдсонгүй"),
    405: Words("Method not allowed", "Энэ аргыг зөвшөөрөхгүй"),
    409: Words("Conflict", "Зөрчилтэй хүсэлт"),
    413: Words("Request too large", "Хүсэлт хэт том"),
    422: Words("Not accepted", "Хүлээн авах боломжгүй"),
    429: Words("Too many requests", "Хэт олон хүсэлт"),
    500: Words("Internal error", "Дотоод алдаа"),
    503: Words("Service unavailable", "Үйлчилгээ түр ажиллахгүй байна"),
}
INVALID_REQUEST: Final = Words("Invalid request", "Хүсэлт буруу байна")
_SEVERAL = Words("{n} mistakes in the request: {all}", "Хүсэлтэд {n} алдаа байна: {all}")

# Field names glossed with the certificate pages' terms (the last segment of a path).
_LABELS: Final[dict[str, str]] = {
    "lot": "label.lot",
    "lots": "label.lot",
    "mass_g": "label.mass",
    "fineness_ppt": "label.fineness",
    "site": "label.site",
    "aimag": "label.aimag",
    "soum": "label.soum",
    "region": "label.region",
    "reason": "label.reason",
    "custodian": "label.custodian",
    "occurred_at": "label.time",
    "type": "label.type",
    "status": "label.status",
}


def _label(field: str | None, lang: Lang) -> str | None:
    if not field:
        return None
    key = _LABELS.get(field.rsplit(".", 1)[-1])
    if key is None:
        return None
    return (PAGE_MN if lang == "mn" else PAGE_EN).get(key)


def rule_sentence(err: FieldError, lang: Lang) -> str:
    """What is wrong, in plain words, without the field's name."""
    rule, params = err.rule, err.params
    if rule == "string-pattern-mismatch":
        form = PATTERNS.get(str(params.get("pattern", "")))
        if form is None:
            return FIELD_RULES[rule](lang)
        return Words("must be {form}", "{form} байх ёстой")(lang, {"form": form(lang)})
    if rule in ("date-time", "date"):
        why = str(params.get("why", ""))
        if "offset" in why:
            return _BAD_OFFSET(lang)
        if why.startswith("not a real"):
            return (_NOT_A_MOMENT if rule == "date-time" else _NOT_A_DAY)(lang)
    if rule in ("literal-error", "enum") and lang == "mn":
        # pydantic lists the choices in English ("'a', 'b' or 'c'")
        params = {**params, "expected": str(params.get("expected", "")).replace(" or ", ", ")}
    words = FIELD_RULES.get(rule)
    if words is not None:
        return words(lang, params)
    words = RULES.get(rule)
    if words is not None:
        # The service's specifics (ids, masses) follow the sentence: they hold no pattern.
        if lang == "en":
            return err.detail or words(lang)
        return f"{words(lang)} ({err.detail})" if err.detail else words(lang)
    if err.detail:
        return err.detail
    return FIELD_RULES["invalid"](lang)


def field_error_text(err: FieldError, lang: Lang) -> str:
    """One mistake as a clerk reads it: `body.mass_g (Жин): хамгийн багадаа 1 байх ёстой`."""
    sentence = rule_sentence(err, lang)
    if not err.field or err.detail is not None:
        return sentence  # a service's own sentence names its field already
    label = _label(err.field, lang)
    where = f"{err.field} ({label})" if label and lang == "mn" else err.field
    return f"{where}: {sentence}"


def summary(errors: list[str], lang: Lang) -> str:
    """The problem's `detail`: the one mistake, or all of them counted."""
    if len(errors) == 1:
        return errors[0]
    return _SEVERAL(lang, {"n": len(errors), "all": "; ".join(errors)})


def title(rule: str, english: str, status: int, lang: Lang) -> str:
    """The problem's `title`: `english` (the contract's title) in English; in Mongolian,
    the rule's sentence stripped to a title, or the status's title."""
    if lang == "en":
        return english
    if rule == "validation-error" or (rule.startswith("invalid-") and rule not in RULES):
        return INVALID_REQUEST(lang)
    words = RULES.get(rule)
    if words is not None:
        return words(lang).split(":")[0].rstrip(".")
    return _STATUS_TITLES.get(status, _STATUS_TITLES[400 if status < 500 else 500])(lang)
