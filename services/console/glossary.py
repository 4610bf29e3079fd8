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
    "error.form_too_large": Term(
        "Маягт хэт том байна: {limit} КБ-аас ихгүй байх ёстой. Юу ч бүртгэгдээгүй."
        " Бичвэрийг богиносгоод дахин илгээнэ үү.",
        "The form is too large: it may be at most {limit} KB. Nothing was recorded."
        " Shorten the text and send it again.",
    ),
    # buyer -------------------------------------------------------------------------------
    "nav.inbox": Term("Ирсэн санал", "Offers to us"),
    "nav.my_lots": Term("Манай багцууд", "Our lots"),
    "inbox.title": Term("Бидэнд ирсэн шилжүүлэх санал", "Transfer offers to us"),
    "inbox.intro": Term(
        "Танай байгууллагад санал болгосон багцууд. Хүлээн авбал багц танайд шилжинэ; "
        "татгалзвал шалтгааныг бичиж болно.",
        "Lots offered to your organisation. Accepting moves the lot to you; when rejecting "
        "you may give a reason.",
    ),
    "inbox.none": Term("Танд ирсэн нээлттэй санал алга.", "No open offers to you."),
    "inbox.accepted": Term(
        "Хүлээн авлаа: {lot} багц одоо танайд байна.", "Accepted: lot {lot} is now yours."
    ),
    "inbox.rejected": Term("Татгалзлаа: {offer} санал.", "Rejected: offer {offer}."),
    "inbox.refused": Term("Бүртгэгдсэнгүй.", "Nothing was recorded."),
    "from": Term("Хэнээс", "From"),
    "price": Term("Үнэ", "Price"),
    "fineness": _page("label.fineness"),
    "fineness.none": Term("Шинжлээгүй", "Not assayed"),
    "action.accept": Term("Хүлээн авах", "Accept"),
    "action.reject": Term("Татгалзах", "Reject"),
    "action.details": Term("Дэлгэрэнгүй", "Details"),
    "reject.reason": Term("Татгалзах шалтгаан", "Reason for rejecting"),
    "mylots.title": Term("Манай багцууд", "Our lots"),
    "mylots.intro": Term(
        "Танай эзэмшиж эсвэл хадгалж буй багцууд, шинэ нь эхэндээ.",
        "The lots you own or hold, newest first.",
    ),
    "mylots.none": Term("Танайд багц алга.", "You hold no lots."),
    "owner": Term("Эзэмшигч", "Owner"),
    "lot.title": Term("Багц {lot}", "Lot {lot}"),
    "provenance": Term("Гарал үүсэл", "Provenance"),
    "provenance.intro": Term(
        "Энэ багцын алт аль уурхайн талбай, аль бичил уурхайчнаас гаралтай, ямар хувьтай.",
        "Which mine sites and miners this lot's gold comes from, and in what share.",
    ),
    "share": _page("label.share"),
    "history": Term("Түүх", "History"),
    "event": _page("label.type"),
    "time": _page("label.time"),
    "certificate.open": Term("Гэрчилгээг нээх", "Open the certificate"),
    "certificate.none": Term(
        "Энэ багцад хүчинтэй гэрчилгээ алга.", "This lot has no current certificate."
    ),
    **{key: _page(key) for key in PAGE_MN if key.startswith("event.")},
    # miner -------------------------------------------------------------------------------
    "nav.my_deliveries": Term("Миний хүдэр", "My deliveries"),
    "mydeliveries.title": Term("Хүлээлгэн өгсөн хүдэр", "Ore I delivered"),
    "mydeliveries.intro": Term(
        "Хүдэр хүлээлгэн өгсөн бүрийн баримтыг хүссэн үедээ дахин хэвлэж болно.",
        "The receipt of every delivery can be printed again at any time.",
    ),
    "mydeliveries.none": Term("Хүлээлгэн өгсөн хүдэр алга.", "No deliveries yet."),
    "delivery.at_centre": Term("Төвд хадгалагдаж байна", "At the centre"),
    "delivery.processed": Term("Боловсруулсан", "Processed"),
    # lab ---------------------------------------------------------------------------------
    "nav.waiting": Term("Шинжилгээ хүлээж буй", "Awaiting assay"),
    "nav.assay": Term("Шинжилгээ бүртгэх", "Record an assay"),
    "lab.title": Term("Сорьцын шинжилгээ хүлээж буй алтны багц", "Gold lots awaiting an assay"),
    "lab.intro": Term(
        "Сорьц нь хараахан бүртгэгдээгүй идэвхтэй алтны багцууд, шинэ нь эхэндээ.",
        "Active gold lots whose fineness is not yet recorded, newest first.",
    ),
    "lab.none": Term("Шинжилгээ хүлээж буй багц алга.", "No lot is awaiting an assay."),
    "assay.title": Term("Сорьцын шинжилгээ бүртгэх", "Record an assay"),
    "assay.intro": Term(
        "Алтны багцын сорьцыг мянганы хэсгээр (‰) бүртгэнэ.",
        "Record a gold lot's fineness in parts per thousand (‰).",
    ),
    "assay.fineness": Term("Сорьц (‰)", "Fineness (‰)"),
    "assay.fineness_hint": Term(
        "1-ээс 1000 хүртэлх бүхэл тоо, жишээ нь 916.",
        "A whole number from 1 to 1000, for example 916.",
    ),
    "assay.method": Term("Шинжилгээний арга", "Method"),
    "method.fire_assay": Term("Галын шинжилгээ", "Fire assay"),
    "method.xrf": Term("Рентген флуоресценц (XRF)", "X-ray fluorescence (XRF)"),
    "method.icp": Term("ICP спектрометр", "ICP spectrometry"),
    "method.other": Term("Бусад", "Other"),
    "assay.sample": Term("Дээжийн дугаар", "Sample id"),
    "assay.submit": Term("Шинжилгээг бүртгэх", "Record the assay"),
    "assay.recorded": Term(
        "Бүртгэгдлээ: {lot}, сорьц {fineness}‰.", "Recorded: {lot}, fineness {fineness}‰."
    ),
    "assay.refused": Term(
        "Бүртгэгдсэнгүй. Доорх алдааг засаад дахин илгээнэ үү.",
        "Nothing was recorded. Correct the mistakes below and send again.",
    ),
    "optional": Term("заавал биш", "optional"),
    "error.lot_pick": Term("Алтны багцыг сонгоно уу.", "Choose a gold lot."),
    "error.fineness": Term(
        "Сорьцыг 1-ээс 1000 хүртэлх бүхэл тоогоор бичнэ үү.",
        "Write the fineness as a whole number from 1 to 1000.",
    ),
    "error.method": Term("Шинжилгээний аргыг сонгоно уу.", "Choose a method."),
    "error.sample": Term(
        "Дээжийн дугаарт зөвхөн латин үсэг, тоо, цэг, зураас байж болно (64 хүртэл тэмдэгт).",
        "A sample id holds only Latin letters, digits, dots and dashes (up to 64).",
    ),
    # offline -- the outbox, the device key, passkeys (offline.py, static/outbox.js) -----
    "offline.banner": Term(
        "Интернэт холболт алга. Хүлээн авалтыг энэ төхөөрөмжид хадгалж, холболт сэргэхэд илгээнэ.",
        "No connection. Deliveries are kept on this device and sent when the connection returns.",
    ),
    "offline.as_of": Term(
        "{time}-ны байдлаар, сүлжээгүй: энэ хуудсыг сүүлд холбогдсон үед хадгалсан,"
        " тоо өөрчлөгдсөн байж магадгүй.",
        "As of {time}, offline: this page was kept from the last visit with a connection;"
        " the figures may have changed since.",
    ),
    "offline.panel": Term(
        "Энэ төхөөрөмжид хадгалсан хүлээн авалт", "Deliveries kept on this device"
    ),
    "offline.waiting": Term("Илгээхийг хүлээж байна", "Waiting to sync"),
    "offline.synced": Term("Илгээж бүртгэгдсэн", "Synced"),
    "offline.refused": Term("Илгээхэд татгалзсан", "Refused at sync"),
    "offline.saved": Term(
        "Холболтгүй үед бүртгэж, энэ төхөөрөмжийн түлхүүрээр гарын үсэг зурав: {lot}. "
        "Холболт сэргэхэд илгээнэ.",
        "Recorded offline and signed with this device's key: {lot}. It will be sent when the "
        "connection returns.",
    ),
    "offline.sign_in": Term(
        "Хадгалсан хүлээн авалтыг илгээхийн тулд дахин нэвтэрнэ үү.",
        "Sign in again to send the deliveries kept on this device.",
    ),
    "offline.dismiss": Term("Жагсаалтаас хасах", "Remove from the list"),
    "offline.no_key": Term(
        "Энэ хөтөч холболтгүй үед гарын үсэг зурж чадахгүй байна: холболт сэргэхэд бүртгэнэ үү.",
        "This browser cannot sign offline: record the delivery when the connection returns.",
    ),
    "passkey.sign_in": Term("Нэвтрэх түлхүүрээр (passkey) нэвтрэх", "Sign in with a passkey"),
    "passkey.add": Term("Нэвтрэх түлхүүр (passkey) нэмэх", "Add a passkey"),
    "passkey.added": Term("Нэвтрэх түлхүүр нэмэгдлээ.", "The passkey was added."),
    "passkey.failed": Term(
        "Нэвтрэх түлхүүр ажилласангүй. Дахин оролдох эсвэл нууц үгээр нэвтэрнэ үү.",
        "The passkey did not work. Try again, or sign in with your password.",
    ),
    "passkey.or": Term("эсвэл", "or"),
    "account.title": Term("Миний бүртгэл", "My account"),
    "account.passkeys": Term("Нэвтрэх түлхүүр (passkey)", "Passkeys"),
    "account.passkeys_intro": Term(
        "Нэвтрэх түлхүүрээр нууц үггүйгээр, энэ төхөөрөмжийн хурууны хээ, царай эсвэл "
        "PIN-ээр нэвтэрнэ.",
        "A passkey signs you in without a password, with this device's fingerprint, face or PIN.",
    ),
    "account.passkey_count": Term("Бүртгэлтэй түлхүүр: {count}", "Passkeys registered: {count}"),
    # officer -- cases and holds, the reports (officer.py) --------------------------------
    "nav.officer.cases": Term("Хэрэг", "Cases"),
    "nav.officer.open": Term("Хэрэг нээх", "Open a case"),
    "nav.officer.reports": Term("Тайлан", "Reports"),
    "officer.cases.title": Term("Хэрэг, саатуулалт", "Cases and holds"),
    "officer.cases.count": Term("{n} хэрэг", "{n} cases"),
    "officer.cases.limited": Term("Эхний {n}-ийг харуулж байна.", "Showing the first {n}."),
    "officer.cases.none": Term("Энэ шүүлтүүрт хэрэг алга.", "No cases match this filter."),
    "officer.cases.back": Term("Бүх хэрэг рүү буцах", "Back to all cases"),
    "officer.filter.open": Term("Нээлттэй", "Open"),
    "officer.filter.resolved": Term("Шийдвэрлэсэн", "Resolved"),
    "officer.filter.all": Term("Бүгд", "All"),
    "officer.filter.every_kind": Term("Бүх төрөл", "Every kind"),
    "officer.filter.show": Term("Харуулах", "Show"),
    "officer.kind": Term("Төрөл", "Kind"),
    "officer.kind_hint.hold": Term(
        "Шийдвэрлэх хүртэл арилжааг зогсооно.", "Stops all trade until it is resolved."
    ),
    "officer.kind_hint.red_flag": Term("Зөвхөн анхааруулна.", "Only warns."),
    "officer.kind_hint.dispute": Term(
        "Уурхайн талбайн талаарх маргаан.", "A dispute over a mine site."
    ),
    "officer.target": Term("Юуны тухай", "About"),
    "officer.target_kind": Term("Юуны тухай хэрэг", "The case is about a"),
    "officer.target.lot": Term("Багц", "Lot"),
    "officer.target.actor": Term("Оролцогч", "Actor"),
    "officer.target.site": Term("Уурхайн талбай", "Mine site"),
    "officer.target_id": Term("Дугаар", "Its id"),
    "officer.target_id_hint": Term(
        "Багцын дугаар (ORE-…), оролцогчийн дугаар (centre:…) эсвэл талбайн дугаар (SITE-…).",
        "The lot's id (ORE-…), the actor's id (centre:…) or the site's id (SITE-…).",
    ),
    "officer.category": Term("Ангилал", "Category"),
    "officer.category.serious_abuses": Term("Хүний эрхийн ноцтой зөрчил", "Serious abuses"),
    "officer.category.armed_groups": Term("Зэвсэгт бүлэглэл", "Armed groups"),
    "officer.category.security_forces": Term("Хамгаалалтын хүчин", "Security forces"),
    "officer.category.bribery_misrepresentation": Term(
        "Хээл хахууль, худал мэдүүлэг", "Bribery or misrepresentation"
    ),
    "officer.category.money_laundering": Term("Мөнгө угаах", "Money laundering"),
    "officer.category.taxes_royalties": Term(
        "Татвар, төлбөр төлөөгүй", "Taxes and royalties unpaid"
    ),
    "officer.category.capacity_inconsistent": Term(
        "Хүчин чадлаас хэтэрсэн", "Above the site's capacity"
    ),
    "officer.category.yield_out_of_bounds": Term(
        "Гарц хэвийн хязгаараас гадуур", "Yield out of bounds"
    ),
    "officer.category.suspended_supplier": Term("Түдгэлзүүлсэн нийлүүлэгч", "Suspended supplier"),
    "officer.category.land_use": Term("Газар ашиглалт", "Land use"),
    "officer.category.other": Term("Бусад", "Other"),
    "officer.description": Term("Тайлбар", "Description"),
    "officer.raised_by": Term("Нээсэн", "Opened by"),
    "officer.open.title": Term("Хэрэг нээх", "Open a case"),
    "officer.open.intro": Term(
        "Багц, оролцогч эсвэл уурхайн талбайн талаар хэрэг нээнэ. Саатуулалт нь шийдвэрлэх "
        "хүртэл арилжааг зогсооно.",
        "Open a case on a lot, an actor or a mine site. A hold stops trade until it is resolved.",
    ),
    "officer.open.submit": Term("Хэрэг нээх", "Open the case"),
    "officer.hold_blocks": Term(
        "Энэ саатуулалт шийдвэрлэгдэх хүртэл арилжааг зогсоож байна.",
        "This hold stops trade until it is resolved.",
    ),
    "officer.history": Term("Түүх", "History"),
    "officer.step.opened": Term("Нээсэн", "Opened"),
    "officer.step.responded": Term("Хариу өгсөн", "Answered"),
    "officer.step.resolved": Term("Шийдвэрлэсэн", "Resolved"),
    "officer.step.escalated": Term("Дээш шилжүүлсэн", "Escalated"),
    "officer.status.raised": Term("Нээлттэй", "Open"),
    "officer.status.responded": Term("Хариу өгсөн", "Answered"),
    "officer.status.escalated": Term("Дээш шилжүүлсэн", "Escalated"),
    "officer.status.resolved": Term("Шийдвэрлэсэн", "Resolved"),
    "officer.resolve.title": Term("Шийдвэрлэх", "Resolve"),
    "officer.resolution": Term("Шийдвэр", "Resolution"),
    "officer.resolve.submit": Term("Хэргийг шийдвэрлэх", "Resolve the case"),
    "officer.escalate.title": Term("Дээш шилжүүлэх", "Escalate"),
    "officer.escalate.to": Term("Хэнд шилжүүлэх", "To whom"),
    "officer.reason": Term("Шалтгаан", "Reason"),
    "officer.escalate.submit": Term("Дээш шилжүүлэх", "Escalate the case"),
    "officer.respond.title": Term("Тэмдэглэл нэмэх", "Add a note"),
    "officer.response": Term("Тэмдэглэл", "Note"),
    "officer.respond.submit": Term("Тэмдэглэл бүртгэх", "Record the note"),
    "officer.closed": Term("Энэ хэрэг эцэслэн шийдвэрлэгдсэн.", "This case is resolved for good."),
    "officer.done.opened": Term("Хэрэг нээгдлээ.", "The case was opened."),
    "officer.done.resolved": Term("Хэрэг шийдвэрлэгдлээ.", "The case was resolved."),
    "officer.done.escalated": Term("Хэрэг дээш шилжлээ.", "The case was escalated."),
    "officer.done.responded": Term("Тэмдэглэл бүртгэгдлээ.", "The note was recorded."),
    "officer.error.choose": Term("Жагсаалтаас сонгоно уу.", "Choose one from the list."),
    "officer.error.period": Term(
        "Дуусах өдөр эхлэх өдрөөс өмнө байна.", "The last day is before the first day."
    ),
    "officer.rule.case_exists": Term(
        "Ийм дугаартай хэрэг аль хэдийн байна.", "A case with this id is already open."
    ),
    "officer.rule.dispute_target": Term(
        "Маргаан зөвхөн уурхайн талбайн талаар байна.", "A dispute is over a mine site only."
    ),
    "officer.rule.case_closed": Term(
        "Хэрэг аль хэдийн шийдвэрлэгдсэн тул өөрчлөх боломжгүй.",
        "The case is already resolved and cannot change.",
    ),
    "officer.rule.unknown_target": Term(
        "Ийм дугаартай зүйл бүртгэлд алга. Дугаарыг шалгана уу.",
        "Nothing with this id is in the record. Check the id.",
    ),
    "officer.reports.title": Term("Тайлан", "Reports"),
    "officer.reports.intro": Term(
        "Масс балансын болон эрсдэлийн дохионы тоон үзүүлэлт, гарын үсэгтэй бүртгэлийн "
        "{size} бичилтээр.",
        "The mass balance and red flag figures, from the signed record of {size} entries.",
    ),
    "officer.period.from": Term("Эхлэх өдөр", "From"),
    "officer.period.to": Term("Дуусах өдөр", "To"),
    "officer.reports.mass_balance": Term("Төв бүрийн масс баланс", "Mass balance per centre"),
    "officer.reports.deliveries": Term("Хүлээн авалт", "Deliveries"),
    "officer.reports.ore_in": Term("Хүлээн авсан хүдэр", "Ore received"),
    "officer.reports.ore_processed": Term("Боловсруулсан хүдэр", "Ore processed"),
    "officer.reports.gold_out": Term("Гарсан алт", "Gold produced"),
    "officer.reports.stock": Term("Үлдэгдэл хүдэр", "Ore in stock"),
    "officer.reports.balance": Term("Баланс", "Balance"),
    "officer.reports.balanced": Term("Тэнцсэн", "Balanced"),
    "officer.reports.unbalanced": Term("Зөрүүтэй", "Does not balance"),
    "officer.reports.no_centres": Term("Хүдэр боловсруулах төв алга.", "No processing centres."),
    "officer.reports.red_flags": Term("Эрсдэлийн дохио", "Red flags"),
    "officer.reports.no_flags": Term(
        "Энэ хугацаанд эрсдэлийн дохио алга.", "No red flags in this period."
    ),
    "officer.reports.severity": Term("Ноцтой байдал", "Severity"),
    "officer.severity.high": Term("Өндөр", "High"),
    "officer.severity.medium": Term("Дунд", "Medium"),
    "officer.severity.low": Term("Бага", "Low"),
    "officer.flag.suspended_supplier": Term("Түдгэлзүүлсэн нийлүүлэгч", "Suspended supplier"),
    "officer.flag.site_dispute": Term("Талбайн маргаан", "Disputed site"),
    "officer.flag.site_suspended": Term("Түдгэлзүүлсэн талбай", "Suspended site"),
    "officer.flag.yield_out_of_bounds": Term(
        "Гарц хэвийн хязгаараас гадуур", "Yield out of bounds"
    ),
    "officer.flag.yield_outlier": Term("Гарц хэт зөрүүтэй", "Yield far from the others"),
    "officer.flag.long_hold": Term("Удаан үргэлжилсэн саатуулалт", "Long hold"),
    "officer.flag.custody_gap": Term("Хадгалалтын гинжин хэлхээний цоорхой", "Custody gap"),
    "officer.flag.mercury_use": Term("Мөнгөн ус хэрэглэсэн", "Mercury used"),
    "officer.flag.capacity_inconsistent": Term(
        "Талбайн хүчин чадлаас хэтэрсэн", "Above the site's capacity"
    ),
    "officer.flag.mass_balance_mismatch": Term("Масс баланс зөрүүтэй", "Mass balance mismatch"),
    "officer.flag.recorded_case": Term("Бүртгэсэн хэрэг", "Recorded case"),
    # admin -- actors, sites, staff, API tokens (admin.py) --------------------------------
    "nav.admin.actors": Term("Оролцогчид", "Actors"),
    "nav.admin.actor_new": Term("Оролцогч бүртгэх", "Register an actor"),
    "nav.admin.site_new": Term("Талбай бүртгэх", "Register a site"),
    "nav.admin.our_actor": Term("Ажилтан, токен", "Staff and tokens"),
    "admin.title": Term("Оролцогчид", "Actors"),
    "admin.back": Term("Оролцогчид руу буцах", "Back to the actors"),
    "admin.actors": Term("Бүртгэлтэй оролцогчид", "Registered actors"),
    "admin.actors_next": Term("Дараагийн", "Next"),
    "admin.actors_none": Term("Оролцогч алга.", "No actors yet."),
    "admin.actor": Term("Оролцогч", "Actor"),
    "admin.role": Term("Үүрэг", "Role"),
    "admin.region": Term("Байршил", "Region"),
    "admin.status.active": Term("Идэвхтэй", "Active"),
    "admin.status.suspended": Term("Түдгэлзүүлсэн", "Suspended"),
    "admin.status.revoked": Term("Хүчингүй болсон", "Revoked"),
    "admin.actor_new.title": Term("Оролцогч бүртгэх", "Register an actor"),
    "admin.actor_new.intro": Term(
        "Шинэ оролцогчийг бүртгэлд нэмнэ. Бүртгэл нь гарын үсэгтэй бүртгэлд үүрд үлдэнэ.",
        "Add a new actor to the registry. The registration stays in the signed record for good.",
    ),
    "admin.actor_new.submit": Term("Оролцогч бүртгэх", "Register the actor"),
    "admin.actor_id": Term("Оролцогчийн дугаар", "Actor id"),
    "admin.actor_id_hint": Term(
        "Үүрэг, хоёр цэг, жижиг латин үсэг ба тоо: жишээ нь miner:bold эсвэл centre:zaamar.",
        "A role word, a colon, then small Latin letters and digits: for example miner:bold "
        "or centre:zaamar.",
    ),
    "admin.buyer_kind": Term("Худалдан авагчийн төрөл", "Kind of buyer"),
    "admin.buyers_only": Term("зөвхөн худалдан авагчид", "buyers only"),
    "admin.buyer.central_bank": Term("Төв банк", "Central bank"),
    "admin.buyer.bank": Term("Банк", "Bank"),
    "admin.buyer.trader": Term("Худалдаачин", "Trader"),
    "admin.buyer.refiner": Term("Цэвэршүүлэгч", "Refiner"),
    "admin.buyer.exporter": Term("Экспортлогч", "Exporter"),
    "admin.licence": Term("Тусгай зөвшөөрөл", "Licence"),
    "admin.licence_number": Term("Тусгай зөвшөөрлийн дугаар", "Licence number"),
    "admin.valid_from": Term("Хүчинтэй эхлэх", "Valid from"),
    "admin.valid_until": Term("Хүчинтэй дуусах", "Valid until"),
    "admin.members": Term("Гишүүдийн тоо", "Members"),
    "admin.partnerships_only": Term("зөвхөн нөхөрлөл", "partnerships only"),
    "admin.site_new.title": Term("Уурхайн талбай бүртгэх", "Register a mine site"),
    "admin.site_new.intro": Term(
        "Бичил уурхайчин эсвэл нөхөрлөлийн уурхайн талбайг бүртгэнэ.",
        "Register a mine site of a miner or a partnership.",
    ),
    "admin.site_new.submit": Term("Талбай бүртгэх", "Register the site"),
    "admin.owner": Term("Эзэмшигч", "Owner"),
    "admin.site_id": Term("Талбайн дугаар", "Site id"),
    "admin.site_id_hint": Term(
        "Латин үсэг, тоо, зураас: жишээ нь SITE-BOLD-2.",
        "Latin letters, digits and dashes: for example SITE-BOLD-2.",
    ),
    "admin.lat": Term("Өргөрөг", "Latitude"),
    "admin.lon": Term("Уртраг", "Longitude"),
    "admin.lat_hint": Term("Жишээ нь 48,23 (41,5-аас 52,2)", "For example 48.23 (41.5 to 52.2)"),
    "admin.lon_hint": Term(
        "Жишээ нь 104,78 (87,7-оос 119,9)", "For example 104.78 (87.7 to 119.9)"
    ),
    "admin.sites": Term("Уурхайн талбайнууд", "Mine sites"),
    "admin.sites_none": Term("Бүртгэлтэй талбай алга.", "No mine sites registered."),
    "admin.staff": Term("Ажилтнууд", "Staff"),
    "admin.staff_none": Term("Ажилтан алга.", "No staff accounts yet."),
    "admin.staff_new": Term("Ажилтан нэмэх", "Add a staff member"),
    "admin.staff_new.submit": Term("Ажилтан нэмэх", "Add the staff member"),
    "admin.display_name": Term("Нэр", "Name"),
    "admin.username_hint": Term(
        "Жижиг латин үсэг, тоо, цэг: жишээ нь bat.clerk.",
        "Small Latin letters, digits and dots: for example bat.clerk.",
    ),
    "admin.password_hint": Term(
        "Дор хаяж 10 тэмдэгт. Ажилтанд биечлэн дамжуулна уу.",
        "At least 10 characters. Hand it to the staff member in person.",
    ),
    "admin.is_admin": Term(
        "Администратор: энэ байгууллагын ажилтан, токеныг удирдана",
        "Administrator: manages this actor's staff and tokens",
    ),
    "admin.is_admin_short": Term("Админ", "Admin"),
    "admin.disable": Term("Идэвхгүй болгох", "Disable"),
    "admin.disabled": Term("Идэвхгүй", "Disabled"),
    "admin.tokens": Term("API токен", "API tokens"),
    "admin.tokens_intro": Term(
        "Програм, төхөөрөмж бүртгэлд хандахад ашиглана. Токеныг зөвхөн нэг удаа харуулна.",
        "Programs and devices use these to reach the record. A token is shown only once.",
    ),
    "admin.tokens_none": Term("Токен алга.", "No tokens."),
    "admin.token.label": Term("Зориулалт", "Label"),
    "admin.token.label_hint": Term(
        "Хэн, юунд ашиглахыг бичнэ үү: жишээ нь «Төвийн таблет 1».",
        "Who uses it for what: for example “Counter tablet 1”.",
    ),
    "admin.token.created": Term("Олгосон", "Issued"),
    "admin.token.issue": Term("Токен олгох", "Issue a token"),
    "admin.token.new": Term("Шинэ токен", "The new token"),
    "admin.token.once": Term(
        "Токеныг одоо хуулж аюулгүй хадгална уу: дахин харуулахгүй.",
        "Copy the token now and keep it safe: it will not be shown again.",
    ),
    "admin.token.id": Term("Токены дугаар", "Token id"),
    "admin.revoke": Term("Хүчингүй болгох", "Revoke"),
    "admin.revoked": Term("Хүчингүй", "Revoked"),
    "admin.done.registered": Term("Оролцогч бүртгэгдлээ.", "The actor was registered."),
    "admin.done.site": Term("Уурхайн талбай бүртгэгдлээ.", "The mine site was registered."),
    "admin.done.staff": Term("Ажилтан нэмэгдлээ.", "The staff member was added."),
    "admin.done.disabled": Term("Ажилтныг идэвхгүй болголоо.", "The staff member was disabled."),
    "admin.done.revoked": Term("Токеныг хүчингүй болголоо.", "The token was revoked."),
    "admin.error.whole_number": Term("Бүхэл тоо бичнэ үү.", "Write a whole number."),
    "admin.error.label_long": Term("200 тэмдэгтээс ихгүй байх ёстой.", "At most 200 characters."),
    "admin.rule.licence_dates": Term(
        "Дуусах өдөр нь эхлэх өдрөөс өмнө байна.", "The licence ends before it begins."
    ),
    "admin.rule.buyer_kind": Term(
        "Худалдан авагчид төрлийг сонгоно уу; бусад үүрэгт сонгохгүй.",
        "Choose a kind for a buyer, and for no other role.",
    ),
    "admin.rule.outside_mongolia": Term(
        "Энэ цэг Монгол Улсаас гадна байна: өргөрөг, уртрагийг шалгана уу.",
        "This point is outside Mongolia: check the latitude and longitude.",
    ),
    "admin.rule.unknown_aimag": Term(
        "Аймгийг жагсаалтаас сонгоно уу.", "Choose the aimag from the list."
    ),
    "admin.rule.not_a_site_owner": Term(
        "Уурхайн талбайг зөвхөн бичил уурхайчин эсвэл нөхөрлөл эзэмшинэ.",
        "A mine site belongs to a miner or a partnership only.",
    ),
    # centre -- runs, certificates, offers, cases, the day's register (centre.py) ---------
    "nav.run": Term("Боловсруулалт", "Processing"),
    "nav.offers": Term("Санал", "Offers"),
    "nav.our_cases": Term("Хэрэг", "Cases"),
    "nav.register": Term("Өдрийн бүртгэл", "Day register"),
    "nav.certificates": Term("Гэрчилгээ", "Certificates"),
    "stock.since": Term("Бүртгэсэн цаг", "Recorded at"),
    "stock.actions": Term("Үйлдэл", "Actions"),
    "stock.offer": Term("Санал болгох", "Offer"),
    "run.title": Term("Боловсруулалт бүртгэх", "Record a processing run"),
    "run.intro": Term(
        "Нөөцөөс боловсруулсан хүдрийн багцуудыг сонгож, гарсан алтыг бүртгэнэ.",
        "Choose the ore lots processed from stock and record the gold that came out.",
    ),
    "run.inputs": Term("Боловсруулсан хүдэр", "Ore processed"),
    "run.inputs_hint": Term(
        "Боловсруулсан багцуудыг чагтална. Хэрэглэсэн жинг кг-аар бичнэ: анхдагч нь "
        "багцын бүх үлдэгдэл.",
        "Tick the lots processed. The mass used is in kg: all that is left unless you change it.",
    ),
    "run.used": Term("Хэрэглэсэн жин", "Mass used"),
    "run.no_ore": Term("Нөөцөд хүдэр алга.", "No ore in stock."),
    "run.outputs": Term("Гарсан алт", "Gold out"),
    "run.outputs_hint": Term(
        "Гарсан алт бүрт шинэ багцын дугаар, хэлбэр, жинг (г эсвэл кг) бичнэ. Жинг мг хүртэл "
        "яг бүртгэнэ.",
        "For each gold output: a new lot number, its form and mass (g or kg), recorded "
        "exactly to the mg.",
    ),
    "run.output_lot": Term("Алтны багц {n}", "Gold lot {n}"),
    "run.gold_form": Term("Хэлбэр", "Form"),
    "run.method": Term("Боловсруулах арга", "Processing method"),
    "run.mercury_free": _page("label.mercury_free"),
    "run.started_on": Term("Эхэлсэн өдөр", "Started on"),
    "run.finished_on": Term("Дууссан өдөр", "Finished on"),
    "run.id": Term("Боловсруулалтын дугаар", "Run number"),
    "run.submit": Term("Боловсруулалтыг бүртгэх", "Record the run"),
    "run.recorded": Term(
        "Бүртгэгдлээ: {run} боловсруулалт. Гарсан алт нөөцөд орлоо.",
        "Recorded: run {run}. The gold out is now in stock.",
    ),
    "run_method.gravity": Term("Гравитацийн (сэгсрэх ширээ)", "Gravity (shaking tables)"),
    "run_method.flotation": Term("Флотаци", "Flotation"),
    "run_method.cyanidation": Term("Цианидын уусгалт", "Cyanidation"),
    "run_method.amalgamation": Term("Мөнгөн усаар амальгамжуулах", "Amalgamation (mercury)"),
    "run_method.other": Term("Бусад", "Other"),
    "error.gold_unit": Term("Нэгжийг сонгоно уу: г эсвэл кг.", "Choose a unit: g or kg."),
    "error.gold_form": Term(
        "Хэлбэрийг сонгоно уу: доре эсвэл баяжмал.", "Choose a form: doré or concentrate."
    ),
    "error.mass_mg": Term(
        "Алтны жин бүхэл миллиграммаар илэрхийлэгдэх ёстой.",
        "A gold mass must come to whole milligrams.",
    ),
    "error.mass_exceeds_left": Term(
        "Жин нь багцын үлдэгдэл жингээс их байна: {asked} оруулсан, {left} үлдсэн.",
        "That is more than is left of the lot: {asked} entered, {left} left.",
    ),
    "error.inputs_required": Term(
        "Дор хаяж нэг хүдрийн багц сонгоно уу.", "Choose at least one ore lot."
    ),
    "error.outputs_required": Term(
        "Дор хаяж нэг алтны багц бичнэ үү.", "Write at least one gold lot."
    ),
    "error.run_method": Term("Боловсруулах аргыг сонгоно уу.", "Choose a processing method."),
    "error.too_long": Term(
        "Хэт урт байна (2000 тэмдэгт хүртэл).", "Too long (2000 characters at most)."
    ),
    "certs.title": Term("Гэрчилгээ", "Certificates"),
    "certs.request": Term("Гэрчилгээ хүсэх", "Request a certificate"),
    "certs.request_hint": Term(
        "Систем багцын одоогийн байдлыг тусгасан шинэ гэрчилгээ олгож, өмнөхийг орлуулна.",
        "The system issues a new certificate of the lot as it stands now, replacing the "
        "previous one.",
    ),
    "certs.requested": Term(
        "Хүсэлт бүртгэгдэж, гэрчилгээ олгогдлоо.", "Requested: the certificate was issued."
    ),
    "certs.refused": Term("Гэрчилгээ олгогдсонгүй.", "No certificate was issued."),
    "certs.list": Term("Олгосон гэрчилгээ", "Certificates issued"),
    "certs.none": Term(
        "Энэ багцад гэрчилгээ олгоогүй байна.", "No certificate issued for this lot."
    ),
    "certs.issued": Term("Олгосон цаг", "Issued at"),
    "certs.kind.gold_lot": _page("print.title.gold_lot"),
    "certs.kind.ore_receipt": _page("print.title.ore_receipt"),
    "certs.current": Term("Хүчинтэй", "Current"),
    "certs.superseded": Term("Шинэчлэгдсэн", "Superseded"),
    "certs.revoked": Term("Хүчингүй болсон", "Revoked"),
    "offer.title": Term("Худалдан авагчид санал болгох", "Offer a lot to a buyer"),
    "offer.intro": Term(
        "Алтны багцыг худалдан авагчид шилжүүлэх санал. Худалдан авагч хүлээн авбал багц "
        "түүнд шилжинэ; хүлээн авахаас өмнө саналыг цуцалж болно.",
        "Offer a gold lot to a buyer. When the buyer accepts, the lot moves to them; until "
        "then the offer can be cancelled.",
    ),
    "offer.lot": Term("Алтны багц", "Gold lot"),
    "offer.buyer": Term("Худалдан авагч", "Buyer"),
    "offer.already": Term("санал нээлттэй", "offer open"),
    "offer.no_gold": Term("Нөөцөд алтны багц алга.", "No gold lot in stock."),
    "offer.submit": Term("Санал илгээх", "Send the offer"),
    "offers.title": Term("Шилжүүлэх санал", "Transfer offers"),
    "offers.cancel": Term("Цуцлах", "Cancel"),
    "offers.none_shown": Term("Энд санал алга.", "No offers here."),
    "offers.done.offered": Term("Санал илгээгдлээ.", "The offer was sent."),
    "offers.done.cancelled": Term("Санал цуцлагдлаа.", "The offer was cancelled."),
    "offer_status.open": Term("Нээлттэй", "Open"),
    "offer_status.accepted": Term("Хүлээн авсан", "Accepted"),
    "offer_status.rejected": Term("Татгалзсан", "Rejected"),
    "offer_status.cancelled": Term("Цуцалсан", "Cancelled"),
    "offer_status.all": Term("Бүгд", "All"),
    "cases.title": Term("Манай хэрэг", "Our cases"),
    "cases.intro": Term(
        "Манай төв болон багцуудын талаар нээгдсэн хэрэг. Хэрэг бүрд хариу өгнө үү.",
        "Cases opened on our centre and its lots. Please answer each.",
    ),
    "cases.target": Term("Юуны тухай", "About"),
    "cases.kind": Term("Төрөл", "Kind"),
    "cases.category": Term("Ангилал", "Category"),
    "cases.description": Term("Тайлбар", "Description"),
    "cases.last_note": Term("Сүүлийн тэмдэглэл", "Last note"),
    "cases.open": Term("Нээх", "Open"),
    "cases.answer": Term("Хариу", "Answer"),
    "cases.answer_hint": Term(
        "Хариу бүртгэлд үүрд хадгалагдана: хувь хүний мэдээлэл бүү бичээрэй.",
        "The answer is kept in the record for good: write no personal data.",
    ),
    "cases.submit": Term("Хариу илгээх", "Send the answer"),
    "cases.answered": Term("Хариу бүртгэгдлээ.", "The answer was recorded."),
    "register.title": Term("Хүдэр хүлээн авалтын өдрийн бүртгэл", "Ore delivery register"),
    "register.day": Term("Өдөр", "Day"),
    "register.show": Term("Харах", "Show"),
    "register.count": Term("Хүлээн авалтын тоо", "Deliveries"),
    "register.total": Term("Нийт жин", "Total mass"),
    "register.no": Term("№", "No."),
    "register.none": Term("Энэ өдөр хүдэр хүлээн аваагүй.", "No ore was received on this day."),
    "register.checkpoint": _page("label.checkpoint"),
    "register.size": Term("Бүртгэлийн хэмжээ (бичлэгийн тоо)", "Log size (entries)"),
    "register.root": Term("Модны үндсэн хэш", "Root hash"),
    "register.fingerprint": Term(
        "Гарын үсэгтэй тэмдэглэлийн хурууны хээ (SHA-256)", "Signed note fingerprint (SHA-256)"
    ),
    "register.published": Term("Нийтэлсэн цаг", "Published at"),
    "register.scan": Term(
        "Аудитор: уншуулж нотолгоог татна уу.", "Auditors: scan to fetch the proof."
    ),
    "register.explain": Term(
        "Энэ өдрийн бүх хүлээн авалт нь {size} бичлэгтэй бүртгэлийн гарын үсэгтэй шалгах "
        "цэгт багтсан (сүүлийнх нь {index}-р бичлэг). QR код нь энэ бичлэг дээрх үндсэн "
        "хэшид багтсаныг нотлох баталгааг нээнэ: хуудсан дээрх хэштэй тулгана уу.",
        "Every delivery of this day is in the log's signed checkpoint of {size} entries (the "
        "last one is entry {index}). The QR code opens the proof that this entry is under "
        "the root hash: compare it with the one printed here.",
    ),
    "register.proof": Term("Нотолгоо:", "Proof:"),
    "register.later": Term(
        "Дараа нь бүртгэл өөрчлөгдөөгүйг шалгах: сүүлийн шалгах цэг ба нийцлийн нотолгоо:",
        "To check later that the log was not rewritten: the latest checkpoint and the "
        "consistency proof:",
    ),
    "register.no_checkpoint": Term(
        "Шалгах цэг хараахан нийтлэгдээгүй байна. Хэсэг хугацааны дараа дахин хэвлэнэ үү.",
        "No checkpoint covers this day yet. Print again in a little while.",
    ),
    # officer.py: the precomputed regulator report (services/reports/snapshots.py)
    "officer.reports.period": Term("Хугацаа", "Period"),
    "officer.reports.period.all": Term("Бүх өдөр", "Every day"),
    "officer.reports.period.this_month": Term("Энэ сар", "This month"),
    "officer.reports.period.last_month": Term("Өмнөх сар", "Last month"),
    "officer.reports.as_of": Term(
        "Бүртгэлийн {entries}-р бичлэг хүртэлх байдлаар (шалгах цэгийн хэмжээ {size}), "
        "{time}-д тооцоолсон.",
        "As of entry {entries} (checkpoint size {size}), computed at {time}.",
    ),
    "officer.reports.preparing": Term("Тайланг бэлтгэж байна.", "The report is being prepared."),
    "officer.reports.preparing_hint": Term(
        "Тайланг ард нь тооцоолдог. Хэдэн минутын дараа энэ хуудсыг дахин ачаална уу.",
        "The report is computed in the background. Refresh this page in a few minutes.",
    ),
    "officer.reports.refresh": Term("Дахин ачаалах", "Refresh"),
}


def text(lang: Lang, key: str, **values: object) -> str:
    """The text of ``key`` in ``lang`` with ``{name}`` fields filled; a key missing from
    `TERMS` is an error (KeyError), never a silent fallback."""
    found = TERMS[key](lang)
    return found.format(**values) if values else found
