"""The service's languages (`Lang`: Mongolian, in Cyrillic, the default, and English) and
the words of its pages in each. Kit: the certificate pages speak with these words, and the
problem answers (`services.problem_texts`) gloss field names with the same ``label.*`` words,
so one thing has one name everywhere.

One flat dict per language with the same keys (a test holds them equal). Keys are dotted:
``verdict.<verdict>``, ``reason.<reason>`` (every ``schemas.certificates.Reason``),
``check.<step name>`` (the steps of ``services.certificates.verdict``), ``event.<type>``,
``status.<lot status>``, ``browser.<state>`` and plain labels. A ``{name}`` in a text is
filled by :func:`text` with ``str.format``; the page template escapes the result.
"""

from __future__ import annotations

from typing import Final, Literal

Lang = Literal["mn", "en"]
LANGS: Final[tuple[Lang, ...]] = ("mn", "en")
DEFAULT_LANG: Final[Lang] = "mn"

MN: Final[dict[str, str]] = {
    "lang.name": "Монгол",
    "site.name": "Алтан бүртгэл",
    "page.title": "Гэрчилгээ шалгах",
    "page.subtitle": "Алтны гэрчилгээний шалгалт",
    "switch.label": "Хэл",
    # verdicts
    "verdict.genuine": "Жинхэнэ",
    "verdict.not_genuine": "Хуурамч / хүчингүй",
    "verdict.not_current": "Энэ багцын өнөөдрийн баталгаа болгон бүү хүлээн ав",
    "verdict.held": "Мөрдөн шалгалтаар царцаасан",
    "verdict.receipt": "Хүдэр хүлээлгэн өгсний жинхэнэ баримт",
    # reasons
    "reason.none": (
        "Гэрчилгээг энэ бүртгэл олгосон, гарын үсэг нь зөв, бүртгэлд бичигдсэн бөгөөд "
        "багц одоо ч гэрчилгээнд бичсэнтэй ижил байна."
    ),
    "reason.malformed": (
        "Энэ код манай бүртгэлийн гэрчилгээ биш, эсвэл гэмтсэн байна. Үүнийг бүү хүлээн ав."
    ),
    "reason.unknown_key": (
        "Гэрчилгээнд энэ бүртгэлийн түлхүүрээр гарын үсэг зураагүй байна. Үүнийг бүү хүлээн ав."
    ),
    "reason.bad_signature": (
        "Гарын үсэг гэрчилгээний мэдээлэлтэй таарахгүй байна: мэдээллийг өөрчилсөн эсвэл "
        "хуурамчаар үйлдсэн."
    ),
    "reason.key_not_valid_at_issue": (
        "Гэрчилгээ олгосон өдөр хэрэглэгдээгүй түлхүүрээр гарын үсэг зурсан байна."
    ),
    "reason.not_in_log": ("Бүртгэлд энэ гэрчилгээний тухай бичлэг алга. Үүнийг бүү хүлээн ав."),
    "reason.revoked": "Хяналтын байгууллага энэ гэрчилгээг хүчингүй болгосон.",
    "reason.superseded": "Сольсон: энэ гэрчилгээг шинэ гэрчилгээгээр сольсон.",
    "reason.consumed": (
        "Боловсруулсан: энэ багц одоо тэр хэвээрээ байхгүй (боловсруулсан, хуваасан, "
        "нэгтгэсэн эсвэл цааш худалдсан)."
    ),
    "reason.transferred": "Худалдсан: гэрчилгээ олгосноос хойш багц өөр хадгалагчид шилжсэн.",
    "reason.held": "Багцыг нээлттэй хэргийн улмаас саатуулсан тул одоо худалдах боломжгүй.",
    "receipt.delivered": "{date}-нд хүлээлгэн өгсөн хүдрийн бүртгэл.",
    "receipt.processed_since": "{date}-нд хүлээлгэн өгсөн, түүнээс хойш боловсруулсан.",
    "h.delivery": "Хүдэр хүлээлгэн өгсөн",
    "label.miner": "Бичил уурхайчин",
    "label.delivered_on": "Хүлээлгэн өгсөн өдөр",
    # headings
    "h.facts": "Гэрчилгээний мэдээлэл",
    "h.facts_claimed": "Кодонд бичигдсэн мэдээлэл (баталгаагүй)",
    "facts.claimed": "Энэ мэдээллийг бүртгэл баталгаажуулаагүй. Үүнд бүү найд.",
    "h.origin": "Гарал үүсэл",
    "h.lot_now": "Багц одоо",
    "h.history": "Сүүлийн бичлэгүүд",
    "h.checks": "Шалгалтын алхмууд",
    "h.browser": "Таны хөтөч юуг шалгасан бэ",
    "h.key": "Бүртгэлийн түлхүүр",
    "h.revocation": "Хүчингүй болгосон",
    "h.successors": "Шинэ гэрчилгээ",
    "h.technical": "Техникийн дэлгэрэнгүй",
    "h.offline": "Энэ сайтад найдалгүйгээр шалгах",
    "label.fingerprint": "Түлхүүрийн хурууны хээ",
    "fingerprint.compare": (
        "Энэ сервер гэрчилгээ болон бүртгэлд гарын үсэг зурсан гэж хэлж буй түлхүүр. Энэ нь "
        "хяналтын байгууллагын нийтэлсэн Алтан бүртгэлийн түлхүүртэй яг ижил байх ёстой; "
        "өөр бол гэрчилгээг бүү хүлээн ав."
    ),
    # labels
    "label.kind": "Төрөл",
    "label.lot": "Багц",
    "label.mass": "Жин",
    "label.fineness": "Сорьц",
    "label.region": "Аймаг",
    "label.miners": "Бичил уурхайчид",
    "label.sites": "Уурхайн талбай",
    "label.mercury_free": "Мөнгөн усгүй",
    "label.custodian": "Хадгалагч",
    "label.issued_at": "Олгосон",
    "label.ledger_index": "Бүртгэлийн дугаар",
    "label.certificate_id": "Гэрчилгээний ID",
    "label.key_id": "Түлхүүрийн ID",
    "label.status": "Төлөв",
    "label.remaining": "Үлдэгдэл жин",
    "label.holds": "Саатуулсан хэрэг",
    "label.closed_by": "Хаасан бичлэг",
    "label.site": "Талбай",
    "label.aimag": "Аймаг",
    "label.soum": "Сум",
    "label.share": "Хувь",
    "label.index": "Дугаар",
    "label.type": "Үйлдэл",
    "label.time": "Цаг",
    "label.reason": "Шалтгаан",
    "label.by": "Хэн",
    "label.detail": "Тайлбар",
    "label.tree_size": "Модны хэмжээ",
    "label.checkpoint": "Гарын үсэгтэй шалгах цэг",
    "label.page_address": "Хуудасны хаяг",
    "label.verifier_keys": "Бүртгэлийн нийтийн түлхүүр",
    "history.count": "Сүүлийн {shown} бичлэг, шинэ нь эхэнд.",
    # values
    "kind.gold_lot": "Алтны багц",
    "kind.ore_receipt": "Хүдрийн баримт",
    "yes": "Тийм",
    "no": "Үгүй",
    "unknown": "Тодорхойгүй",
    "none": "Байхгүй",
    "status.active": "Идэвхтэй",
    "status.closed": "Хаагдсан",
    "status.exported": "Экспортолсон",
    "status.refined": "Цэвэршүүлсэн",
    "time.zone": "Улаанбаатарын цагаар",
    # checks
    "check.token": "Код зөв бүтэцтэй гэрчилгээ агуулна",
    "check.key": "Энэ бүртгэлийн түлхүүрээр гарын үсэг зурсан",
    "check.signature": "Гарын үсэг зөв",
    "check.key_time": "Олгосон өдөр түлхүүр хүчинтэй байсан",
    "check.in_log": "Бүртгэлд бичигдсэн",
    "check.revoked": "Хүчингүй болгоогүй",
    "check.current": "Багц одоо ч гэрчилгээнд бичсэнтэй ижил",
    "check.ok": "Тэнцсэн",
    "check.failed": "Тэнцээгүй",
    "check.skipped": "Шалгаагүй",
    "check.fact": "Мэдээлэл",
    "check.receipt_processed": "Хүдрийг {date}-нд боловсруулсан"
    " (баримт нь хүлээлгэн өгснийг бүртгэдэг; хүдрийг цааш нь дагадаггүй).",
    "check.receipt_processed_since": "Хүдрийг түүнээс хойш боловсруулсан"
    " (баримт нь хүлээлгэн өгснийг бүртгэдэг; хүдрийг цааш нь дагадаггүй).",
    # events
    "event.ore.delivered": "Хүдэр хүлээлгэн өгсөн",
    "event.processing.recorded": "Боловсруулалт",
    "event.assay.recorded": "Сорьцын шинжилгээ",
    "event.lot.split": "Багц хуваасан",
    "event.lots.merged": "Багц нэгтгэсэн",
    "event.transfer.offered": "Шилжүүлэх санал",
    "event.transfer.accepted": "Шилжүүлэг хүлээн авсан",
    "event.transfer.rejected": "Шилжүүлгээс татгалзсан",
    "event.transfer.cancelled": "Шилжүүлгийг цуцалсан",
    "event.lot.exported": "Экспортолсон",
    "event.lot.refined": "Цэвэршүүлсэн",
    "event.case.opened": "Хэрэг нээсэн",
    "event.case.responded": "Хэрэгт хариу өгсөн",
    "event.case.resolved": "Хэрэг шийдвэрлэсэн",
    "event.case.escalated": "Хэргийг дээш шилжүүлсэн",
    "event.correction.recorded": "Залруулга",
    "event.certificate.requested": "Гэрчилгээ хүссэн",
    "event.certificate.issued": "Гэрчилгээ олгосон",
    "event.certificate.revoked": "Гэрчилгээ хүчингүй болгосон",
    # the browser's own check
    "browser.nojs": (
        "JavaScript асаалттай бол таны хөтөч энэ серверийн илгээсэн гарын үсэг, нотолгоог "
        "дахин шалгана."
    ),
    "browser.checking": "Таны хөтөч энэ серверийн илгээсэн мэдээллийг дахин шалгаж байна…",
    "browser.ok_signed": (
        "Хоорондоо нийцэж байна: гэрчилгээ болон бүртгэлийн шалгах цэг доорх түлхүүрээр "
        "гарын үсэг зурагдсан, харуулсан мэдээлэл нь гэрчилгээнд гарын үсэг зурсан мэдээлэл "
        "мөн, нотолгоо энэ бичлэгийг бүртгэлд байгааг харуулж байна. Энэ бүгдийг энэ сервер "
        "илгээсэн."
    ),
    "browser.ok_unsigned": (
        "Энэ серверийн илгээсэн нотолгоо энэ бичлэгийг бүртгэлийн модонд байгааг харуулж "
        "байгааг таны хөтөч шалгалаа. Гарын үсгийг энэ хөтөч шалгаж чадсангүй."
    ),
    "browser.fail": (
        "Энэ серверийн илгээсэн мэдээлэл хоорондоо таарахгүй байна: таны хөтчийн шалгалт "
        "тэнцсэнгүй. Энэ хуудсанд бүү итгэ."
    ),
    "browser.unsupported": "Энэ хөтөч серверийн илгээсэн мэдээллийг дахин шалгаж чадахгүй.",
    "browser.limits": (
        "Энэ нь бие даасан шалгалт биш, зөвхөн уялдааны шалгалт юм: түлхүүр, шалгах цэг, "
        "нотолгоо, мэдээлэл, төлөв бүгд энэ серверээс ирсэн бөгөөд хуурамч сайт өөрийн "
        "түлхүүрээр тэдгээрийг хооронд нь таацуулж чадна. Энэ сайтыг хэн ажиллуулж байгааг, "
        "харуулсан төлөв үнэн эсэхийг батлахгүй. Доорх түлхүүрийн хурууны хээг хяналтын "
        "байгууллагын нийтэлсэнтэй харьцуулна уу."
    ),
    "browser.not_applicable": "Бүртгэлийн нотолгоо байхгүй тул хөтчийн шалгалт хамаарахгүй.",
    # how to verify
    "how.address": "Хөтчийн хаягийн мөрөнд {host} гэж байгаа эсэхийг шалгана уу.",
    "how.offline": (
        "Бие даасан шалгалт: хяналтын байгууллагын нийтэлсэн бүртгэлийн түлхүүрээр altan "
        "программыг ажиллуулна уу. Гэрчилгээний гарын үсэг болон бүртгэлийн хариуг тэр "
        "түлхүүрээр шалгадаг тул хуурамч сайт үүнийг давж чадахгүй:"
    ),
    "how.key_source": (
        "--key-ийн дараах түлхүүрийг энэ хуудаснаас биш, хяналтын байгууллагын нийтлэлээс "
        "авна уу: энд зөвхөн хялбар болгох үүднээс энэ серверийн түлхүүрийг хэвлэсэн бөгөөд "
        "хуурамч хуудас өөрийн түлхүүрийг хэвлэнэ."
    ),
    "print.title.gold_lot": "Алтны багцын гэрчилгээ",
    "print.title.ore_receipt": "Хүдэр хүлээн авсан баримт",
    "print.how": (
        "Утасны камераар уншуулах эсвэл altan verify ажиллуулж шалгана уу; "
        "хуудас {host} дээр нээгдэх ёстой."
    ),
    "print.warning": "Хэвлэх үед энэ гэрчилгээ хүчинтэй биш байсан:",
    "print.no_facts": "Энэ кодоос гэрчилгээний мэдээлэл уншигдсангүй.",
}

EN: Final[dict[str, str]] = {
    "lang.name": "English",
    "site.name": "Altan Ledger",
    "page.title": "Certificate check",
    "page.subtitle": "Gold certificate check",
    "switch.label": "Language",
    "verdict.genuine": "Genuine",
    "verdict.not_genuine": "Not genuine",
    "verdict.not_current": "Do not accept this as proof of the lot today",
    "verdict.held": "Frozen by an investigation",
    "verdict.receipt": "A genuine receipt of an ore delivery",
    "reason.none": (
        "Issued by this ledger: the signature is valid, it is recorded in the ledger and the "
        "lot is still as the certificate says."
    ),
    "reason.malformed": (
        "This code is not a certificate of this ledger, or it is damaged. Do not accept it."
    ),
    "reason.unknown_key": "The certificate is not signed by this ledger's key. Do not accept it.",
    "reason.bad_signature": (
        "The signature does not match the certificate's facts: they have been altered or forged."
    ),
    "reason.key_not_valid_at_issue": (
        "It was signed with a key that was not in use on the issue date."
    ),
    "reason.not_in_log": "The ledger has no record of this certificate. Do not accept it.",
    "reason.revoked": "A regulator has revoked this certificate.",
    "reason.superseded": "Replaced: a newer certificate replaces this one.",
    "reason.consumed": (
        "Processed: the lot no longer exists as such (processed, split, merged or sold on)."
    ),
    "reason.transferred": "Sold: the lot has a new custodian since this certificate was issued.",
    "reason.held": "The lot is held by an open case and may not be traded now.",
    "receipt.delivered": "The record of ore delivered on {date}.",
    "receipt.processed_since": "Delivered on {date}, processed since.",
    "h.delivery": "The delivery",
    "label.miner": "Miner",
    "label.delivered_on": "Delivered on",
    "h.facts": "Certificate facts",
    "h.facts_claimed": "What the code claims (not confirmed)",
    "facts.claimed": "The ledger does not confirm these facts. Do not rely on them.",
    "h.origin": "Origin",
    "h.lot_now": "The lot now",
    "h.history": "Latest entries",
    "h.checks": "Checks",
    "h.browser": "What your browser checked",
    "h.key": "The ledger's key",
    "h.revocation": "Revoked",
    "h.successors": "Newer certificate",
    "h.technical": "Technical details",
    "h.offline": "Check without trusting this site",
    "label.fingerprint": "Key fingerprint",
    "fingerprint.compare": (
        "The key this server says signed the certificate and the ledger. It must be the same "
        "as the Altan Ledger key the regulator publishes; if it differs, do not accept the "
        "certificate."
    ),
    "label.kind": "Kind",
    "label.lot": "Lot",
    "label.mass": "Mass",
    "label.fineness": "Fineness",
    "label.region": "Aimag",
    "label.miners": "Miners",
    "label.sites": "Mine sites",
    "label.mercury_free": "Mercury-free",
    "label.custodian": "Custodian",
    "label.issued_at": "Issued",
    "label.ledger_index": "Ledger entry",
    "label.certificate_id": "Certificate ID",
    "label.key_id": "Key ID",
    "label.status": "Status",
    "label.remaining": "Remaining mass",
    "label.holds": "Held by case",
    "label.closed_by": "Closed by entry",
    "label.site": "Site",
    "label.aimag": "Aimag",
    "label.soum": "Soum",
    "label.share": "Share",
    "label.index": "Entry",
    "label.type": "Event",
    "label.time": "Time",
    "label.reason": "Reason",
    "label.by": "By",
    "label.detail": "Detail",
    "label.tree_size": "Tree size",
    "label.checkpoint": "Signed checkpoint",
    "label.page_address": "Page address",
    "label.verifier_keys": "Ledger public key",
    "history.count": "The latest {shown} entries, newest first.",
    "kind.gold_lot": "Gold lot",
    "kind.ore_receipt": "Ore receipt",
    "yes": "Yes",
    "no": "No",
    "unknown": "Not stated",
    "none": "None",
    "status.active": "Active",
    "status.closed": "Closed",
    "status.exported": "Exported",
    "status.refined": "Refined",
    "time.zone": "Ulaanbaatar time",
    "check.token": "The code holds a well-formed certificate",
    "check.key": "Signed with this ledger's key",
    "check.signature": "The signature is valid",
    "check.key_time": "The key was in use on the issue date",
    "check.in_log": "Recorded in the ledger",
    "check.revoked": "Not revoked",
    "check.current": "The lot is still as the certificate says",
    "check.ok": "Passed",
    "check.failed": "Failed",
    "check.skipped": "Not checked",
    "check.fact": "Note",
    "check.receipt_processed": "The ore was processed on {date}"
    " (receipts record a delivery; they do not follow the ore).",
    "check.receipt_processed_since": "The ore was processed since"
    " (receipts record a delivery; they do not follow the ore).",
    "event.ore.delivered": "Ore delivered",
    "event.processing.recorded": "Processing",
    "event.assay.recorded": "Assay",
    "event.lot.split": "Lot split",
    "event.lots.merged": "Lots merged",
    "event.transfer.offered": "Transfer offered",
    "event.transfer.accepted": "Transfer accepted",
    "event.transfer.rejected": "Transfer rejected",
    "event.transfer.cancelled": "Transfer cancelled",
    "event.lot.exported": "Exported",
    "event.lot.refined": "Refined",
    "event.case.opened": "Case opened",
    "event.case.responded": "Case answered",
    "event.case.resolved": "Case resolved",
    "event.case.escalated": "Case escalated",
    "event.correction.recorded": "Correction",
    "event.certificate.requested": "Certificate requested",
    "event.certificate.issued": "Certificate issued",
    "event.certificate.revoked": "Certificate revoked",
    "browser.nojs": (
        "With JavaScript on, your browser re-checks the signatures and the proof this server sent."
    ),
    "browser.checking": "Your browser is re-checking what this server sent…",
    "browser.ok_signed": (
        "Consistent: the certificate and the ledger's checkpoint are signed by the key below, "
        "the facts shown are the ones the certificate signs, and the proof puts this entry in "
        "the ledger. All of it was sent by this server."
    ),
    "browser.ok_unsigned": (
        "The proof this server sent puts this entry in the ledger's tree. This browser could "
        "not check the signatures."
    ),
    "browser.fail": (
        "What this server sent does not add up: your browser's check failed. Do not trust "
        "this page."
    ),
    "browser.unsupported": "This browser cannot re-check what this server sent.",
    "browser.limits": (
        "This is a consistency check, not an independent one: the key, the checkpoint, the "
        "proof, the facts and the status all come from this server, and a fake site can make "
        "them agree with a key of its own. It does not prove who runs this site, nor that the "
        "status shown is true. Compare the key fingerprint below with the one the regulator "
        "publishes."
    ),
    "browser.not_applicable": "There is no ledger proof, so the browser check does not apply.",
    "how.address": "Check that the address bar shows {host}.",
    "how.offline": (
        "The independent check: run the altan program with the ledger key the regulator "
        "publishes. It checks the certificate's signature and the ledger's answer against that "
        "key, so a fake site cannot pass it:"
    ),
    "how.key_source": (
        "The key after --key must come from the regulator's publication, not from this page: "
        "this server's key is printed here only for convenience, and a fake page prints its "
        "own."
    ),
    "print.title.gold_lot": "Gold lot certificate",
    "print.title.ore_receipt": "Ore receipt",
    "print.how": ("Scan with a phone camera or run altan verify; the page must be on {host}."),
    "print.warning": "This certificate was not valid when printed:",
    "print.no_facts": "No certificate facts could be read from this code.",
}

MESSAGES: Final[dict[Lang, dict[str, str]]] = {"mn": MN, "en": EN}


def text(lang: Lang, key: str, **values: object) -> str:
    """The text of ``key`` in ``lang``, with ``{name}`` fields filled from ``values``.

    A key missing from the dict (say a check or event type added later) falls back to the
    key after its first dot (``event.site.registered`` gives ``site.registered``), so a page
    never fails for want of a word.
    """
    found = MESSAGES[lang].get(key)
    if found is None:
        return key.split(".", 1)[-1]
    return found.format(**values) if values else found
