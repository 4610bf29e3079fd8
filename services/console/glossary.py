"""Every word the console shows, in Mongolian (Cyrillic, the default) and English.

One table, `TERMS`: a key and a `Term` holding both languages, so a word cannot exist in
one language only. Templates never hold visible text of their own: they call ``t(key)``
(a test parses every template and fails on a bare word, and on a key missing here).

Where the certificate pages (`services.i18n`) already name a thing, the console takes that
word from there (`_page`), so a lot, a site, a mass or a custodian has one name in the whole
product. The domain's words follow the field (see /work/shared/DOMAIN.md): багц (lot),
хүдэр (ore), хүдэр боловсруулах төв (processing centre), бичил уурхайчин (artisanal miner),
нөхөрлөл (partnership), сорьцын шинжилгээ (assay), хэрэг (case).

A ``{name}`` in a text is filled by :func:`text` with ``str.format``; templates escape the
result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from services.i18n import EN as PAGE_EN
from services.i18n import MN as PAGE_MN
from services.i18n import Lang

__all__ = ["TERMS", "Term", "text"]


@dataclass(frozen=True)
class Term:
    """One word or sentence in both languages."""

    mn: str
    en: str

    def __call__(self, lang: Lang) -> str:
        return self.mn if lang == "mn" else self.en


def _page(key: str) -> Term:
    """The certificate pages' own word for a thing (services.i18n), in both languages."""
    return Term(PAGE_MN[key], PAGE_EN[key])


TERMS: Final[dict[str, Term]] = {
    # -- the product ---------------------------------------------------------------------
    "site.name": _page("site.name"),
    "site.tagline": Term(
        "Бичил уурхайн алтны гарал үүслийн найдвартай бүртгэл",
        "A trustworthy record of where artisanal gold comes from",
    ),
    "lang.label": _page("switch.label"),
    "lang.mn": Term("Монгол", "Монгол"),
    "lang.en": Term("English", "English"),
    "skip": Term("Үндсэн хэсэг рүү алгасах", "Skip to the content"),
    "nav.label": Term("Үндсэн цэс", "Main menu"),
    # -- the landing page -----------------------------------------------------------------
    "landing.title": Term("Алтан бүртгэл гэж юу вэ", "What Altan Ledger is"),
    "landing.what": Term(
        "Алтан бүртгэл нь бичил уурхайчдаас хүдэр боловсруулах төв, тэндээс худалдан авагч "
        "хүртэлх хүдэр, алтны багц бүрийг өөрчлөх боломжгүй, гарын үсэгтэй бүртгэлд "
        "хадгалдаг.",
        "Altan Ledger keeps every ore and gold lot, from artisanal miners through processing "
        "centres to buyers, in a signed record that cannot be altered.",
    ),
    "landing.who": Term(
        "Хүдэр боловсруулах төв, худалдан авагч, лаборатори, хяналтын байгууллагын ажилтнууд "
        "энд нэвтэрч ажиллана.",
        "Staff of processing centres, buyers, laboratories and regulators sign in here.",
    ),
    "landing.sign_in": Term("Ажилтан нэвтрэх", "Staff sign-in"),
    "landing.verify": Term("Гэрчилгээ шалгах", "Check a certificate"),
    "landing.verify_how": Term(
        "Гэрчилгээ эсвэл баримт дээрх QR кодыг утасны камераар уншуулна уу: шалгах хуудас "
        "нээгдэнэ.",
        "Scan the QR code on a certificate or receipt with a phone camera: the check page opens.",
    ),
    "landing.api": Term("Аудиторын API-ийн баримт бичиг", "Auditor API documentation"),
    "landing.api_how": Term(
        "Аудитор, хөгжүүлэгчид бүртгэлийг бүхэлд нь энэ сервергүйгээр шалгаж болно.",
        "Auditors and developers can check the whole record without trusting this server.",
    ),
    # -- signing in -----------------------------------------------------------------------
    "signin.title": Term("Нэвтрэх", "Sign in"),
    "signin.username": Term("Нэвтрэх нэр", "Username"),
    "signin.password": Term("Нууц үг", "Password"),
    "signin.submit": Term("Нэвтрэх", "Sign in"),
    "signin.failed": Term(
        "Нэвтрэх нэр эсвэл нууц үг буруу байна.", "The username or password is wrong."
    ),
    "signin.limited": Term(
        "Хэт олон удаа оролдлоо. Түр хүлээгээд дахин оролдоно уу.",
        "Too many attempts. Wait a while and try again.",
    ),
    "signin.expired": Term(
        "Таны хуудас хуучирсан байна. Дахин оролдоно уу.",
        "This page had expired. Please try again.",
    ),
    "signout": Term("Гарах", "Sign out"),
    "signed_in_as": Term("Нэвтэрсэн", "Signed in"),
    # -- roles ----------------------------------------------------------------------------
    "role.processing_centre": Term("Хүдэр боловсруулах төв", "Processing centre"),
    "role.miner": Term("Бичил уурхайчин", "Artisanal miner"),
    "role.partnership": Term("Бичил уурхайчдын нөхөрлөл", "Miners' partnership"),
    "role.buyer": Term("Худалдан авагч", "Buyer"),
    "role.laboratory": Term("Лаборатори", "Laboratory"),
    "role.regulator": Term("Хяналтын байгууллага", "Regulator"),
    "role.auditor": Term("Аудитор", "Auditor"),
    "role.administrator": Term("Администратор", "Administrator"),
    # -- navigation -----------------------------------------------------------------------
    "nav.today": Term("Өнөөдөр", "Today"),
    "nav.deliver": Term("Хүдэр хүлээн авах", "Receive ore"),
    "nav.deliveries": Term("Хүлээн авсан хүдэр", "Deliveries"),
    "nav.stock": Term("Нөөц", "Stock"),
    "nav.home": Term("Нүүр", "Home"),
    # -- the things -----------------------------------------------------------------------
    "lot": _page("label.lot"),
    "ore": Term("Хүдэр", "Ore"),
    "gold": Term("Алт", "Gold"),
    "kind": _page("label.kind"),
    "kind.ore": Term("Хүдэр", "Ore"),
    "kind.gold": Term("Алт", "Gold"),
    "form.ore": Term("Хүдэр", "Ore"),
    "form.dore": Term("Доре (хайлш)", "Doré"),
    "form.concentrate": Term("Баяжмал", "Concentrate"),
    "miner": Term("Бичил уурхайчин", "Miner"),
    "miner_site": Term("Бичил уурхайчин ба уурхайн талбай", "Miner and mine site"),
    "site": Term(PAGE_MN["label.sites"], "Mine site"),  # the pages' word, singular
    "aimag": _page("label.aimag"),
    "soum": _page("label.soum"),
    "mass": _page("label.mass"),
    "remaining": _page("label.remaining"),
    "custodian": _page("label.custodian"),
    "status": _page("label.status"),
    "mined_on": Term("Олборлосон өдөр", "Mined on"),
    "delivered_at": Term("Хүлээн авсан цаг", "Received at"),
    "notes": Term("Тэмдэглэл", "Notes"),
    "delivery": Term("Хүдэр хүлээн авалт", "Ore delivery"),
    "receipt": _page("print.title.ore_receipt"),
    "certificate": Term("Гэрчилгээ", "Certificate"),
    "offer": Term("Шилжүүлэх санал", "Transfer offer"),
    "assay": _page("event.assay.recorded"),
    "case": Term("Хэрэг", "Case"),
    "ledger_index": _page("label.ledger_index"),
    "to": Term("Хэнд", "To"),
    "unit.g": Term("г", "g"),
    "unit.mg": Term("мг", "mg"),
    "unit.kg": Term("кг", "kg"),
    "unit.t": Term("тн", "t"),
    "status.active": _page("status.active"),
    "status.closed": _page("status.closed"),
    "status.exported": _page("status.exported"),
    "status.refined": _page("status.refined"),
    "case.raised": Term("Нээлттэй", "Open"),
    "case.responded": Term("Хариу өгсөн", "Answered"),
    "case.escalated": Term("Дээш шилжүүлсэн", "Escalated"),
    "case.hold": Term("Саатуулсан", "Hold"),
    "case.red_flag": Term("Анхааруулга", "Red flag"),
    "case.dispute": Term("Маргаан", "Dispute"),
    "none": _page("none"),
    "time.zone": _page("time.zone"),
    # -- the centre's today page ----------------------------------------------------------
    "today.title": Term("Өнөөдөр", "Today"),
    "today.deliveries": Term("Өнөөдөр хүлээн авсан хүдэр", "Ore received today"),
    "today.none": Term("Өнөөдөр хүдэр хүлээн аваагүй байна.", "No ore received today."),
    "today.stock": Term("Нөөцөд байгаа багц", "Lots in stock"),
    "today.offers": Term("Нээлттэй шилжүүлэх санал", "Open transfer offers"),
    "today.cases": Term("Манай багцын нээлттэй хэрэг", "Open cases on our lots"),
    "count.lots": Term("{n} багц", "{n} lots"),
    "count.deliveries": Term("{n} хүлээн авалт", "{n} deliveries"),
    # -- recording a delivery -------------------------------------------------------------
    "deliver.title": Term("Хүдэр хүлээн авах", "Receive ore"),
    "deliver.intro": Term(
        "Бичил уурхайчнаас хүлээн авсан хүдрийг бүртгэнэ. Хадгалсны дараа баримтыг хэвлэж "
        "уурхайчинд өгнө.",
        "Record ore received from a miner. After saving, print the receipt for the miner.",
    ),
    "deliver.search": Term("Уурхайчин хайх", "Find a miner"),
    "deliver.search_button": Term("Хайх", "Search"),
    "deliver.pick": Term("Сонгоно уу", "Choose"),
    "deliver.no_sites": Term(
        "Идэвхтэй уурхайн талбайтай бичил уурхайчин олдсонгүй.",
        "No miner with an active mine site was found.",
    ),
    "deliver.lot_hint": Term(
        "Уутны шошгон дээрх дугаар, эсвэл санал болгосон дугаарыг хэвээр үлдээнэ үү.",
        "The number on the bag's tag, or keep the one suggested.",
    ),
    "deliver.mass_hint": Term(
        "Жишээ нь 1,5 тн эсвэл 250 кг. Бүхэл грамм хүртэл бүртгэнэ.",
        "For example 1.5 t or 250 kg. Recorded to the whole gram.",
    ),
    "deliver.unit": Term("Нэгж", "Unit"),
    "deliver.submit": Term("Хүлээн авч бүртгэх", "Record the delivery"),
    "deliver.refused": Term(
        "Бүртгэгдсэнгүй. Доорх алдааг засаад дахин илгээнэ үү.",
        "Nothing was recorded. Correct the mistakes below and send again.",
    ),
    "deliver.recorded": Term(
        "Бүртгэгдлээ: {lot}, {mass}. Баримтыг хэвлэнэ үү.",
        "Recorded: {lot}, {mass}. Please print the receipt.",
    ),
    "deliver.optional": Term("заавал биш", "optional"),
    # -- form mistakes (before the rules) -------------------------------------------------
    "error.required": Term("Энэ талбарыг бөглөнө үү.", "Please fill in this field."),
    "error.mass_number": Term(
        "Жинг тоогоор бичнэ үү, жишээ нь 1,5 эсвэл 250.",
        "Write the mass as a number, for example 1.5 or 250.",
    ),
    "error.mass_ambiguous": Term(
        "1,500 гэдэг нь 1,5 эсвэл 1500 байж болно: таслалгүй 1500, эсвэл 1,5 гэж бичнэ үү.",
        "1,500 may mean 1.5 or 1500: write 1500 without a comma, or 1.5.",
    ),
    "error.mass_positive": Term("Жин тэгээс их байх ёстой.", "The mass must be more than zero."),
    "error.mass_grams": Term(
        "Жин бүхэл граммаар илэрхийлэгдэх ёстой (1 г-аас бага бутархайгүй).",
        "The mass must come to whole grams (no fraction of a gram).",
    ),
    "error.mass_max": Term(
        "Нэг хүлээн авалт 1000 тн-оос ихгүй байх ёстой.",
        "One delivery may be at most 1000 t.",
    ),
    "error.unit": Term("Нэгжийг сонгоно уу: кг эсвэл тн.", "Choose a unit: kg or t."),
    "error.miner_site": Term(
        "Бичил уурхайчин болон түүний уурхайн талбайг сонгоно уу.",
        "Choose a miner and one of its mine sites.",
    ),
    "error.date": Term("Огноог 2026-09-10 гэж бичнэ үү.", "Write the date like 2026-09-10."),
    # -- lists ----------------------------------------------------------------------------
    "deliveries.title": Term("Хүлээн авсан хүдэр", "Ore deliveries"),
    "deliveries.none": Term("Хүлээн авсан хүдэр алга.", "No deliveries yet."),
    "deliveries.older": Term("Өмнөх", "Older"),
    "stock.title": Term("Нөөц", "Stock"),
    "stock.none": Term("Нөөцөд багц алга.", "No lots in stock."),
    "stock.total": Term("Нийт үлдэгдэл", "Total remaining"),
    "offers.none": Term("Нээлттэй санал алга.", "No open offers."),
    "cases.none": Term("Нээлттэй хэрэг алга.", "No open cases."),
    "action.receipt": Term("Баримт", "Receipt"),
    "action.print": Term("Хэвлэх", "Print"),
    "action.back": Term("Буцах", "Back"),
    # -- the receipt ----------------------------------------------------------------------
    "receipt.for_miner": Term("Бичил уурхайчинд өгөх хувь", "The miner's copy"),
    "receipt.centre": Term("Хүлээн авсан төв", "Received by"),
    "receipt.no_qr": Term(
        "Энэ хүлээн авалтад гэрчилгээний QR код олгогдоогүй байна.",
        "No certificate QR code was issued for this delivery.",
    ),
    "receipt.scan": Term(
        "QR кодыг утасны камераар уншуулж баримтыг шалгана уу.",
        "Scan the QR code with a phone camera to check this receipt.",
    ),
    # -- other roles (their pages come later) ---------------------------------------------
    "home.title": Term("Нүүр", "Home"),
    "home.soon": Term(
        "Таны үүргийн хуудсууд удахгүй нэмэгдэнэ.", "The pages for your role are coming soon."
    ),
    # -- errors ---------------------------------------------------------------------------
    "error.title": Term("Алдаа", "Error"),
    "error.403": Term("Танд энэ хуудсыг үзэх эрх байхгүй.", "You may not see this page."),
    "error.404": Term("Хуудас олдсонгүй.", "The page was not found."),
    "error.csrf": Term(
        "Маягт хуучирсан эсвэл өөр газраас ирсэн байна. Хуудсыг дахин нээгээд оролдоно уу.",
        "The form had expired or came from elsewhere. Open the page again and retry.",
    ),
}


def text(lang: Lang, key: str, **values: object) -> str:
    """The text of ``key`` in ``lang`` with ``{name}`` fields filled; a key missing from
    `TERMS` is an error (KeyError), never a silent fallback."""
    found = TERMS[key](lang)
    return found.format(**values) if values else found
