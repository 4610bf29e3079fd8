/* Altan Ledger static verifier: the page a bank, the regulator or an association hosts on its
 * own domain (`altan verifier export DIR --key K ...`). It trusts what was pinned when it was
 * exported (inlined in index.html as #altan-config) and nothing the ledger says on its own.
 *
 * Input: a certificate's QR code from the camera (getUserMedia, decoded with the vendored
 * jsQR), from a photo, or a pasted URL or token (also `?c=<url or token>`).
 * Then: GET {ledger}/api/c/{token} (a CORS GET, no credentials) and the checks below, each
 * shown as a line (ok / failed / not checked); the first failure names its reason.
 *
 *   token        the QR text holds a certificate token                  malformed
 *   key          signed by a pinned log key                             unknown_key
 *   signature    its Ed25519 signature verifies (WebCrypto)             bad_signature
 *   answer       the ledger answered with JSON                          unreachable |
 *                                                                       bad_answer | no_ledger
 *   checkpoint   its checkpoint is signed by a pinned key, origin the
 *                pinned name                                            bad_checkpoint |
 *                                                                       wrong_origin
 *   in_log       the certificate's entry (the token's index and leaf
 *                hash prefix) is in the checkpoint's tree                not_in_log |
 *                                                                       proof_invalid
 *   witnesses    K of the pinned witnesses cosigned the checkpoint, or
 *                an older one it extends (consistency proof), within
 *                max age                                                not_witnessed | stale |
 *                                                                       inconsistent
 *   status_proof the lot's state is proven against that checkpoint     no_status_proof |
 *                (AltanCheck.verifyStatusProof)                         not_latest_root |
 *                                                  root_not_in_log | not_a_state_root |
 *                                                  map_proof
 *   revoked      from the proven state                                  revoked | not_in_log
 *   current      from the proven state                                  superseded | consumed |
 *                                                                       transferred | held
 *
 * The verdict (genuine / not genuine / not current) comes from the proven state only; a
 * ledger answer whose own verdict disagrees is pointed out. The result carries data-verdict,
 * data-reason and each line data-check / data-state, for people's tools and for the tests.
 */
(function () {
  "use strict";

  var check = window.AltanCheck;
  var Failure = check.Failure;
  var CLOCK_SKEW = 600; // seconds a cosignature may be ahead of this device's clock
  var MAX_WITNESSED = 4; // older witnessed checkpoints read from one answer
  var MAX_ANSWER = 1 << 20;
  var STEPS = [
    "token",
    "key",
    "signature",
    "answer",
    "checkpoint",
    "in_log",
    "witnesses",
    "status_proof",
    "revoked",
    "current",
  ];
  var STEP_WORDS = {
    token: "check.token",
    key: "check.key",
    signature: "check.signature",
    answer: "verifier.check.answer",
    checkpoint: "verifier.check.checkpoint",
    in_log: "check.in_log",
    witnesses: "verifier.check.witnesses",
    status_proof: "verifier.check.status_proof",
    revoked: "check.revoked",
    current: "check.current",
  };
  var ICONS = { genuine: "\u2713", not_genuine: "\u2717", not_current: "\u26a0\ufe0e" };
  ICONS.cannot_check = "?";

  var config = JSON.parse(document.getElementById("altan-config").textContent);
  var words = JSON.parse(document.getElementById("altan-words").textContent);
  var $ = function (id) {
    return document.getElementById(id);
  };
  var lang = /[?&]lang=en\b/.test(location.search) ? "en" : "mn";
  var last = null; // the last result shown, re-drawn when the language changes

  // -- words ----------------------------------------------------------------------------------

  function t(key, values) {
    var text = words[lang][key];
    if (text === undefined) {
      text = key;
    }
    if (values) {
      text = text.replace(/\{(\w+)\}/g, function (all, name) {
        return values[name] !== undefined ? String(values[name]) : all;
      });
    }
    return text;
  }

  function reasonText(reason) {
    if (words[lang]["reason." + reason] !== undefined) {
      return t("reason." + reason);
    }
    return t("verifier.reason." + reason);
  }

  function applyWords() {
    document.documentElement.lang = lang;
    document.title = t("verifier.title") + " \u00b7 " + t("site.name");
    document.querySelectorAll("[data-t]").forEach(function (el) {
      el.textContent = t(el.getAttribute("data-t"));
    });
    document.querySelectorAll("[data-t-label]").forEach(function (el) {
      el.setAttribute("aria-label", t(el.getAttribute("data-t-label")));
    });
    document.querySelectorAll("[data-lang]").forEach(function (el) {
      el.setAttribute("aria-pressed", el.getAttribute("data-lang") === lang ? "true" : "false");
    });
    showPinned();
    if (last) {
      render(last);
    }
  }

  function setLang(next) {
    lang = next;
    var url = new URL(location.href);
    url.searchParams.set("lang", next);
    history.replaceState(null, "", url.toString());
    applyWords();
  }

  function duration(seconds) {
    if (seconds % 3600 === 0) return t("verifier.hours", { n: seconds / 3600 });
    if (seconds % 60 === 0) return t("verifier.minutes", { n: seconds / 60 });
    return t("verifier.seconds", { n: seconds });
  }

  // POSIX seconds as Ulaanbaatar time, labelled (as the certificate pages show times)
  function when(seconds) {
    var d = new Date((seconds + 8 * 3600) * 1000);
    function two(n) {
      return (n < 10 ? "0" : "") + n;
    }
    return (
      d.getUTCFullYear() +
      "-" +
      two(d.getUTCMonth() + 1) +
      "-" +
      two(d.getUTCDate()) +
      " " +
      two(d.getUTCHours()) +
      ":" +
      two(d.getUTCMinutes()) +
      " (UTC+8)"
    );
  }

  function formatMass(mass, unit) {
    var n = typeof mass === "bigint" ? mass : BigInt(mass);
    var thousand = BigInt(1000);
    function group(x) {
      return x.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    }
    if (unit === "mg" || n >= thousand) {
      var fraction = (n % thousand).toString();
      fraction = fraction === "0" ? "" : "." + ("00" + fraction).slice(-3).replace(/0+$/, "");
      return group(n / thousand) + fraction + (unit === "mg" ? " g" : " kg");
    }
    return group(n) + " " + unit;
  }

  function fingerprint(vkey) {
    return vkey.split("+").slice(0, 2).join("+");
  }

  function addFact(list, label, value, name) {
    var dt = document.createElement("dt");
    dt.textContent = label;
    var dd = document.createElement("dd");
    dd.textContent = value;
    if (name) {
      dd.setAttribute("data-fact", name);
    }
    list.appendChild(dt);
    list.appendChild(dd);
  }

  function showPinned() {
    var list = $("pinned-facts");
    list.textContent = "";
    addFact(list, t("verifier.label.ledger"), config.ledger || t("verifier.label.ledger_from_qr"));
    config.log_keys.forEach(function (vkey) {
      addFact(list, t("label.verifier_keys"), fingerprint(vkey), "log-key");
    });
    config.witnesses.forEach(function (vkey) {
      addFact(list, t("verifier.label.witnesses"), fingerprint(vkey), "witness");
    });
    addFact(
      list,
      t("verifier.label.rule"),
      config.min_cosignatures > 0
        ? t("verifier.rule", {
            k: config.min_cosignatures,
            n: config.witnesses.length,
            age: duration(config.max_age),
          })
        : t("verifier.no_witness_rule"),
      "rule"
    );
  }

  // -- the checks -----------------------------------------------------------------------------

  function Refusal(verdict, reason, detail) {
    this.verdict = verdict;
    this.reason = reason;
    this.detail = detail || "";
  }

  async function fetchAnswer(base, token) {
    var url = base.replace(/\/+$/, "") + "/api/c/" + check.tokenText(token);
    var response;
    try {
      response = await fetch(url, {
        method: "GET",
        credentials: "omit",
        cache: "no-store",
        redirect: "follow",
        referrerPolicy: "no-referrer",
        headers: { Accept: "application/json" },
      });
    } catch (e) {
      throw new Refusal("cannot_check", "unreachable", String(e));
    }
    if (response.status !== 200) {
      throw new Refusal("not_genuine", "bad_answer", "HTTP " + response.status);
    }
    var text = await response.text();
    if (text.length > MAX_ANSWER) {
      throw new Refusal("not_genuine", "bad_answer", "answer larger than 1 MiB");
    }
    try {
      var answer = JSON.parse(text);
    } catch (e) {
      throw new Refusal("not_genuine", "bad_answer", "not JSON");
    }
    if (!answer || typeof answer !== "object" || Array.isArray(answer)) {
      throw new Refusal("not_genuine", "bad_answer", "not a verdict");
    }
    return answer;
  }

  // Step 7: the checkpoint the status is proven against, vouched for by the pinned witnesses
  // (itself, or an older one it extends). Returns {cosigned: [{name, time}], size (of the
  // witnessed one)} or throws a Refusal.
  async function witnessPolicy(answer, latest, logKeys, witnesses) {
    var now = Math.floor(Date.now() / 1000);
    var need = config.min_cosignatures;
    var notAfter = now + CLOCK_SKEW;
    var fresh = await check.validCosignatures(latest.note, witnesses, now - config.max_age, notAfter);
    if (fresh.length >= need) {
      return { cosigned: fresh, size: latest.size };
    }
    var stale = (await check.validCosignatures(latest.note, witnesses, null, notAfter)).length >= need;
    var candidates = [];
    var older = Array.isArray(answer.witnessed) ? answer.witnessed.slice(0, MAX_WITNESSED) : [];
    for (var i = 0; i < older.length; i++) {
      var item = older[i];
      try {
        var cp = await check.verifyCheckpoint(item && item.checkpoint, logKeys);
      } catch (e) {
        if (e instanceof Failure) continue; // not the pinned log's: never counted
        throw e;
      }
      if (cp.size > latest.size) continue;
      candidates.push({ checkpoint: cp, consistency: item.consistency });
    }
    candidates.sort(function (a, b) {
      return a.checkpoint.size > b.checkpoint.size ? -1 : 1;
    });
    for (var c = 0; c < candidates.length; c++) {
      var candidate = candidates[c];
      var cosigned = await check.validCosignatures(
        candidate.checkpoint.note,
        witnesses,
        now - config.max_age,
        notAfter
      );
      if (cosigned.length < need) {
        if ((await check.validCosignatures(candidate.checkpoint.note, witnesses, null, notAfter)).length >= need) {
          stale = true;
        }
        continue;
      }
      if (!Array.isArray(candidate.consistency)) {
        continue; // nothing links it to the latest (a ledger from before status proofs)
      }
      // the latest must extend what the witnesses cosigned
      try {
        var proof = candidate.consistency.map(function (h, n) {
          return check.base64ToBytes(h, "consistency hash " + n, "consistency", check.HASH_SIZE);
        });
        await check.verifyConsistency(
          candidate.checkpoint.size,
          latest.size,
          proof,
          candidate.checkpoint.rootHash,
          latest.rootHash
        );
      } catch (e) {
        if (e instanceof Failure) {
          throw new Refusal("not_genuine", "inconsistent", e.message);
        }
        throw e;
      }
      return { cosigned: cosigned, size: candidate.checkpoint.size };
    }
    throw new Refusal("not_genuine", stale ? "stale" : "not_witnessed", fresh.length + " of " + need);
  }

  // Runs the checks; returns the result to render (never throws for a verdict).
  async function verify(text) {
    var lines = {};
    var result = { lines: lines, verdict: null, reason: null, detail: "", facts: null };
    var step = "token";
    function pass(name, detail) {
      lines[name] = { state: "ok", detail: detail || "" };
    }
    function refuse(verdict, reason, detail) {
      if (reason !== "unsupported") {
        lines[step] = { state: "failed", detail: detail || "" };
        result.failed = step;
      }
      result.verdict = verdict;
      result.reason = reason;
      result.detail = detail || "";
      return result;
    }
    try {
      if (!(await check.hasEd25519())) {
        return refuse("cannot_check", "unsupported");
      }
      // token, key, signature
      var parsed;
      try {
        parsed = check.parseQrText(text);
      } catch (e) {
        if (e instanceof Failure) return refuse("not_genuine", "malformed", e.message);
        throw e;
      }
      var logKeys = [];
      for (var k = 0; k < config.log_keys.length; k++) {
        logKeys.push(await check.parseVerifierKey(config.log_keys[k]));
      }
      var witnesses = [];
      for (var w = 0; w < config.witnesses.length; w++) {
        witnesses.push(await check.parseWitnessKey(config.witnesses[w]));
      }
      var signed;
      try {
        signed = await check.checkToken(parsed.token, logKeys, true);
        result.facts = check.certificateFacts(signed.payload);
      } catch (e) {
        if (!(e instanceof Failure)) throw e;
        if (e.step === "unknown_key") {
          pass("token");
          step = "key";
          return refuse("not_genuine", "unknown_key", e.message);
        }
        if (e.step === "bad_signature") {
          pass("token");
          pass("key");
          step = "signature";
          return refuse("not_genuine", "bad_signature", e.message);
        }
        return refuse("not_genuine", "malformed", e.message);
      }
      var facts = result.facts;
      pass("token");
      pass("key", signed.key.name + "+" + check.bytesToHex(signed.key.keyId));
      pass("signature");
      result.certificateId = await check.certificateId(parsed.token);

      // the ledger's answer
      step = "answer";
      var base = config.ledger || parsed.server;
      if (!base) {
        return refuse("cannot_check", "no_ledger");
      }
      var answer = await fetchAnswer(base, parsed.token);
      pass("answer", base);
      result.ledgerSaid = typeof answer.verdict === "string" ? answer.verdict : null;
      result.ledgerReason = typeof answer.reason === "string" ? answer.reason : null;

      // its checkpoint
      step = "checkpoint";
      var latest;
      try {
        latest = await check.verifyCheckpoint(answer.checkpoint, logKeys);
      } catch (e) {
        if (!(e instanceof Failure)) throw e;
        return refuse("not_genuine", e.step === "origin" ? "wrong_origin" : "bad_checkpoint", e.message);
      }
      pass("checkpoint", latest.size.toString());

      // the certificate's entry
      step = "in_log";
      if (answer.proof === null || answer.proof === undefined) {
        return refuse("not_genuine", "not_in_log", "the ledger gives no proof of the entry");
      }
      try {
        await check.verifyEntryProof(answer.proof, latest, facts);
      } catch (e) {
        if (e instanceof Failure) return refuse("not_genuine", "proof_invalid", e.step + ": " + e.message);
        throw e;
      }
      pass("in_log", facts.index.toString());

      // the witnesses
      step = "witnesses";
      var vouched = null;
      if (config.min_cosignatures > 0) {
        vouched = await witnessPolicy(answer, latest, logKeys, witnesses);
        pass("witnesses");
      } else {
        lines.witnesses = { state: "skipped", detail: "" };
      }

      // the status proof
      step = "status_proof";
      var proof = answer.status_proof;
      if (proof === null || proof === undefined) {
        return refuse("not_genuine", "no_status_proof");
      }
      var proven;
      try {
        if (proof && typeof proof === "object" && proof.checkpoint !== undefined) {
          var own = check.parseNote(proof.checkpoint, "not_latest_root");
          if (own.body !== latest.body) {
            throw check.fail("not_latest_root", "the status proof is against another checkpoint");
          }
        }
        if (!proof || proof.lot !== facts.lot) {
          throw check.fail("map_proof", "the status proof is of another lot");
        }
        proven = await check.verifyStatusProof(proof, latest);
      } catch (e) {
        if (e instanceof Failure) return refuse("not_genuine", e.step, e.message);
        throw e;
      }
      pass("status_proof", proven.treeSize.toString());
      result.asOf = {
        size: proven.treeSize.toString(),
        witnessedSize: vouched ? vouched.size.toString() : null,
        cosigned: vouched ? vouched.cosigned : null,
      };

      // the verdict from the proven state
      var status = check.statusVerdict(proven.state, result.certificateId, facts.custodian);
      result.proven = true; // the verdict below is the proof's, to set against the ledger's
      step = status.verdict === "not_genuine" ? "revoked" : "current";
      if (status.verdict !== "genuine") {
        if (step === "current") pass("revoked");
        return refuse(status.verdict, status.reason);
      }
      pass("revoked");
      pass("current");
      result.verdict = "genuine";
      return result;
    } catch (e) {
      if (e instanceof Refusal) {
        return refuse(e.verdict, e.reason, e.detail);
      }
      if (e instanceof Failure) {
        return refuse("not_genuine", "bad_answer", e.message);
      }
      if (window.console) window.console.error(e);
      return refuse("cannot_check", "unsupported", String(e));
    }
  }

  // -- showing the result ------------------------------------------------------------------

  function render(result) {
    var section = $("result");
    section.hidden = false;
    section.setAttribute("data-state", "done");
    section.setAttribute("data-verdict", result.verdict);
    section.setAttribute("data-reason", result.reason || "none");
    var box = $("verdict");
    box.className = "verdict verdict-" + result.verdict;
    box.querySelector(".icon").textContent = ICONS[result.verdict];
    box.querySelector(".word").textContent =
      result.verdict === "cannot_check" ? t("verifier.cannot_check") : t("verdict." + result.verdict);
    $("reason").textContent = result.reason ? reasonText(result.reason) : t("reason.none");

    var asOf = $("as-of");
    if (result.asOf) {
      var parts = [t("verifier.as_of", { size: result.asOf.size })];
      var cosigned = result.asOf.cosigned;
      if (cosigned && cosigned.length) {
        var names = cosigned.map(function (c) { return c.name; }).join(", ");
        var time = when(Math.min.apply(null, cosigned.map(function (c) { return c.time; })));
        parts.push(
          result.asOf.witnessedSize === result.asOf.size
            ? t("verifier.cosigned", { names: names, time: time })
            : t("verifier.extends", { size: result.asOf.witnessedSize, names: names, time: time })
        );
      } else if (config.min_cosignatures === 0) {
        parts.push(t("verifier.no_witness_rule"));
      }
      asOf.textContent = parts.join(" ");
      asOf.hidden = false;
      asOf.setAttribute("data-size", result.asOf.size);
    } else {
      asOf.textContent = "";
      asOf.hidden = true;
    }

    var said = $("ledger-said");
    var disagrees =
      result.proven &&
      result.ledgerSaid &&
      (result.ledgerSaid !== result.verdict || (result.ledgerReason || null) !== (result.reason || null));
    said.hidden = !disagrees;
    said.textContent = disagrees
      ? t("verifier.ledger_said", {
          said: words[lang]["verdict." + result.ledgerSaid] !== undefined
            ? t("verdict." + result.ledgerSaid)
            : result.ledgerSaid,
        })
      : "";

    var first = $("first-failure");
    if (result.failed) {
      first.hidden = false;
      first.querySelector(".text").textContent = t(STEP_WORDS[result.failed]);
      first.querySelector(".code").textContent = result.reason;
      first.setAttribute("data-step", result.failed);
    } else {
      first.hidden = true;
    }

    var facts = $("facts");
    facts.textContent = "";
    // facts are shown only when the token's signature verified (they are then the signed ones)
    if (result.facts && result.lines.signature && result.lines.signature.state === "ok") {
      var f = result.facts;
      addFact(facts, t("label.kind"), t("kind." + f.kind), "kind");
      addFact(facts, t("label.lot"), f.lot, "lot");
      addFact(facts, t("label.mass"), formatMass(f.mass, f.unit), "mass");
      if (f.fineness !== null) addFact(facts, t("label.fineness"), f.fineness + "\u2030", "fineness");
      addFact(facts, t("label.custodian"), f.custodian, "custodian");
      if (typeof f.issuedAt === "number") addFact(facts, t("label.issued_at"), when(f.issuedAt), "issued");
      addFact(facts, t("label.ledger_index"), f.index.toString(), "index");
      if (result.certificateId) addFact(facts, t("label.certificate_id"), result.certificateId, "id");
      $("facts-section").hidden = false;
    } else {
      $("facts-section").hidden = true;
    }

    var list = $("checks");
    list.textContent = "";
    STEPS.forEach(function (name, i) {
      var line = result.lines[name] || { state: "skipped", detail: "" };
      var li = document.createElement("li");
      li.value = i + 1;
      li.setAttribute("data-check", name);
      li.setAttribute("data-state", line.state === "failed" ? "failed" : line.state);
      var state = document.createElement("span");
      state.className = "state state-" + line.state;
      var icon = { ok: "\u2713", failed: "\u2717", skipped: "\u2013" }[line.state];
      state.textContent = icon + " " + t("check." + line.state) + ":";
      li.appendChild(state);
      li.appendChild(document.createTextNode(" " + t(STEP_WORDS[name])));
      if (name === "witnesses" && line.state === "skipped" && config.min_cosignatures === 0) {
        li.appendChild(detailNode(t("verifier.no_witness_rule")));
      } else if (line.state === "failed") {
        li.appendChild(detailNode(reasonText(result.reason)));
      }
      list.appendChild(li);
    });
  }

  function detailNode(text) {
    var span = document.createElement("span");
    span.className = "detail";
    span.textContent = text;
    return span;
  }

  function showMessage(key) {
    var message = $("input-message");
    message.hidden = !key;
    message.textContent = key ? t(key) : "";
    message.setAttribute("data-message", key || "");
  }

  async function start(text) {
    stopCamera();
    showMessage(null);
    var section = $("result");
    section.hidden = false;
    section.setAttribute("data-state", "checking");
    section.removeAttribute("data-verdict");
    $("verdict").className = "verdict";
    $("verdict").querySelector(".icon").textContent = "";
    $("verdict").querySelector(".word").textContent = t("verifier.checking");
    $("reason").textContent = "";
    last = await verify(text);
    render(last);
    section.scrollIntoView({ block: "start" });
  }

  // -- reading the QR code -------------------------------------------------------------------

  var stream = null;
  var scanning = false;

  function decode(source, width, height) {
    var canvas = $("frame");
    var scale = Math.min(1, 1600 / Math.max(width, height));
    canvas.width = Math.max(1, Math.round(width * scale));
    canvas.height = Math.max(1, Math.round(height * scale));
    var context = canvas.getContext("2d", { willReadFrequently: true });
    context.drawImage(source, 0, 0, canvas.width, canvas.height);
    var pixels = context.getImageData(0, 0, canvas.width, canvas.height);
    var found = window.jsQR(pixels.data, pixels.width, pixels.height, {
      inversionAttempts: "attemptBoth",
    });
    return found && found.data ? found.data : null;
  }

  function stopCamera() {
    scanning = false;
    if (stream) {
      stream.getTracks().forEach(function (track) {
        track.stop();
      });
      stream = null;
    }
    $("camera").hidden = true;
    $("video").srcObject = null;
  }

  async function startCamera() {
    showMessage(null);
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      showMessage("verifier.camera_denied");
      return;
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        video: { facingMode: "environment" },
        audio: false,
      });
    } catch (e) {
      showMessage("verifier.camera_denied");
      return;
    }
    var video = $("video");
    video.srcObject = stream;
    $("camera").hidden = false;
    await video.play();
    scanning = true;
    var tick = function () {
      if (!scanning) return;
      if (video.readyState >= 2 && video.videoWidth) {
        var text = decode(video, video.videoWidth, video.videoHeight);
        if (text) {
          start(text);
          return;
        }
      }
      setTimeout(tick, 150);
    };
    tick();
  }

  async function readPhoto(file) {
    showMessage(null);
    var text = null;
    try {
      var bitmap = await createImageBitmap(file);
      text = decode(bitmap, bitmap.width, bitmap.height);
    } catch (e) {
      text = null;
    }
    if (text) {
      start(text);
    } else {
      showMessage("verifier.no_qr");
    }
  }

  // -- wiring ------------------------------------------------------------------------------

  document.querySelectorAll("[data-lang]").forEach(function (button) {
    button.addEventListener("click", function () {
      setLang(button.getAttribute("data-lang"));
    });
  });
  $("scan").addEventListener("click", startCamera);
  $("stop").addEventListener("click", stopCamera);
  $("photo").addEventListener("change", function (event) {
    var file = event.target.files && event.target.files[0];
    if (file) readPhoto(file);
    event.target.value = "";
  });
  $("paste-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var text = $("paste").value.trim();
    if (text) start(text);
  });
  $("again").addEventListener("click", function () {
    last = null;
    $("result").hidden = true;
    $("paste").value = "";
    window.scrollTo(0, 0);
  });
  applyWords();
  var given = new URL(location.href).searchParams.get("c");
  if (given) {
    $("paste").value = given;
    start(given);
  }
})();
