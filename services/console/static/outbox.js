// The offline outbox (services/console/offline.py says the whole design). On a centre's
// pages: registers the service worker; keeps one Ed25519 device key per actor in IndexedDB
// (WebCrypto, not extractable) and registers its public half while online; offline, keeps
// a delivery from the form in the outbox, signed at once over the bytes the server
// verifies (ledger/entry.py event_signing_message), and sends each item once, with its own
// Idempotency-Key, when the network returns. Everything it shows comes from the glossary
// (the #offline-words block the page renders).
(function () {
  "use strict";
  var panel = document.getElementById("outbox");
  var wordsBlock = document.getElementById("offline-words");
  if (!panel || !wordsBlock || panel.getAttribute("data-offline") !== "true") return;
  var words = JSON.parse(wordsBlock.textContent);
  var actor = panel.getAttribute("data-actor");
  var lang = document.documentElement.lang === "en" ? "en" : "mn";
  var list = document.getElementById("outbox-list");
  var said = document.getElementById("outbox-say");
  var banner = document.getElementById("offline-banner");
  var FORM = "/app/centre/deliveries/new";
  var AUTO_LOT = /^ORE-[0-9]{8}-[0-9A-F]{8}$/;
  var KEEP_SYNCED_MS = 24 * 3600 * 1000;

  // -- IndexedDB: "keys" (one device key per actor), "outbox" (items by Idempotency-Key) --
  var opened = null;
  function db() {
    if (!opened) {
      opened = new Promise(function (resolve, reject) {
        var request = indexedDB.open("altan-offline", 1);
        request.onupgradeneeded = function () {
          request.result.createObjectStore("keys", { keyPath: "actor" });
          request.result.createObjectStore("outbox", { keyPath: "id" });
        };
        request.onsuccess = function () { resolve(request.result); };
        request.onerror = function () { reject(request.error); };
      });
    }
    return opened;
  }
  function store(name, mode, work) {
    return db().then(function (d) {
      return new Promise(function (resolve, reject) {
        var t = d.transaction(name, mode);
        var request = work(t.objectStore(name));
        t.oncomplete = function () { resolve(request ? request.result : undefined); };
        t.onerror = function () { reject(t.error); };
        t.onabort = function () { reject(t.error); };
      });
    });
  }
  function items() {
    return store("outbox", "readonly", function (s) { return s.getAll(); }).then(function (all) {
      return all.filter(function (item) { return item.actor === actor; })
        .sort(function (a, b) { return a.created - b.created; });
    });
  }
  function put(item) { return store("outbox", "readwrite", function (s) { return s.put(item); }); }
  function remove(id) { return store("outbox", "readwrite", function (s) { return s.delete(id); }); }

  // -- bytes ---------------------------------------------------------------------------
  function b64(bytes) {
    var text = "";
    new Uint8Array(bytes).forEach(function (b) { text += String.fromCharCode(b); });
    return btoa(text);
  }
  function hex(bytes) {
    return Array.from(new Uint8Array(bytes), function (b) {
      return b.toString(16).padStart(2, "0");
    }).join("");
  }
  function randomHex(n) { return hex(crypto.getRandomValues(new Uint8Array(n))); }
  function concat(parts) {
    var size = parts.reduce(function (n, p) { return n + p.length; }, 0);
    var out = new Uint8Array(size);
    var at = 0;
    parts.forEach(function (p) { out.set(p, at); at += p.length; });
    return out;
  }

  // RFC 8785 (JCS): ECMAScript's own JSON serialisation with object keys sorted by UTF-16
  // code units (what Array.prototype.sort does with strings). Integers only, as the ledger.
  function canonical(value) {
    if (Array.isArray(value)) return "[" + value.map(canonical).join(",") + "]";
    if (value !== null && typeof value === "object") {
      return "{" + Object.keys(value).sort().map(function (k) {
        return JSON.stringify(k) + ":" + canonical(value[k]);
      }).join(",") + "}";
    }
    if (typeof value === "number" && !Number.isSafeInteger(value)) {
      throw new Error("not an integer within 2**53: " + value);
    }
    return JSON.stringify(value);
  }
  // ledger.entry.event_signing_message: "altan/event/v1\n" + JCS({type, actor, body}).
  function signingMessage(type, who, body) {
    return new TextEncoder().encode(
      "altan/event/v1\n" + canonical({ type: type, actor: who, body: body }));
  }
  // ledger.note.key_id: SHA-256(actor || 0x0A || 0x01 || public key)[:4], in hex.
  function keyId(who, raw) {
    var message = concat([new TextEncoder().encode(who + "\n"), new Uint8Array([1]), raw]);
    return crypto.subtle.digest("SHA-256", message).then(function (d) {
      return hex(d.slice(0, 4));
    });
  }

  // -- the device key ------------------------------------------------------------------
  async function deviceKey() {
    var found = await store("keys", "readonly", function (s) { return s.get(actor); });
    if (found) return found;
    var pair = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
    var raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    var made = {
      actor: actor, key_id: await keyId(actor, raw), public_key: b64(raw),
      private: pair.privateKey, registered: false,
    };
    try {
      await store("keys", "readwrite", function (s) { return s.add(made); });
      return made;
    } catch (e) {  // another tab made one first: use that one
      return store("keys", "readonly", function (s) { return s.get(actor); });
    }
  }
  async function register(csrf) {
    var key = await deviceKey();
    if (key.registered) return key;
    var response = await fetch("/app/device-key", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ public_key: key.public_key }),
    });
    if (!response.ok) throw new Error("device key not registered: " + response.status);
    var answer = await response.json();
    if (answer.key_id !== key.key_id) throw new Error("device key id differs: " + answer.key_id);
    key.registered = true;
    await store("keys", "readwrite", function (s) { return s.put(key); });
    return key;
  }
  async function sign(type, body) {
    var key = await deviceKey();
    var signature = await crypto.subtle.sign(
      { name: "Ed25519" }, key.private, signingMessage(type, actor, body));
    return { key_id: key.key_id, signature: b64(signature) };
  }

  // -- the delivery form, read as services/console/forms.py reads it -------------------
  var GRAMS_DIGITS = { kg: 3, t: 6 };
  function parseMass(amount, unit) {
    if (!(unit in GRAMS_DIGITS)) return { mistake: "error.unit" };
    var text = amount.trim().replace(/\u00a0/g, " ").replace(/(?<=[0-9]) (?=[0-9]{3}(?![0-9]))/g, "");
    if (!text) return { mistake: "error.required" };
    if (/^[1-9][0-9]{0,2},[0-9]{3}$/.test(text)) return { mistake: "error.mass_ambiguous" };
    if (text.length > 32 || !/^[0-9]+(?:[.,][0-9]+)?$/.test(text)) {
      return { mistake: "error.mass_number" };
    }
    var parts = text.replace(",", ".").split(".");
    var digits = GRAMS_DIGITS[unit];
    var fraction = parts[1] || "";
    if (/[1-9]/.test(fraction.slice(digits))) return { mistake: "error.mass_grams" };
    var grams = BigInt(parts[0]) * 10n ** BigInt(digits)
      + BigInt((fraction.slice(0, digits) + "000000").slice(0, digits));
    if (grams <= 0n) return { mistake: "error.mass_positive" };
    if (grams > BigInt(Number.MAX_SAFE_INTEGER)) return { mistake: "error.mass_max" };
    return { grams: Number(grams) };
  }
  function pad(n) { return String(n).padStart(2, "0"); }
  function localDay(d) { return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()); }
  function moment(d) {  // RFC 3339 with this device's UTC offset, to the second
    var offset = -d.getTimezoneOffset();
    var sign = offset < 0 ? "-" : "+";
    offset = Math.abs(offset);
    return localDay(d) + "T" + pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":"
      + pad(d.getSeconds()) + sign + pad(Math.floor(offset / 60)) + ":" + pad(offset % 60);
  }
  function newLot(d) {
    return "ORE-" + localDay(d).replace(/-/g, "") + "-" + randomHex(4).toUpperCase();
  }
  function readDelivery(form, now) {
    var f = function (name) { var el = form.elements[name]; return el ? String(el.value) : ""; };
    var mistakes = {};
    var lot = f("lot").trim();
    if (!lot) mistakes.lot = "error.required";
    var pick = f("miner_site");
    var bar = pick.indexOf("|");
    var miner = bar < 0 ? "" : pick.slice(0, bar);
    var site = bar < 0 ? "" : pick.slice(bar + 1);
    if (!miner || !site) mistakes.miner_site = "error.miner_site";
    var mass = parseMass(f("mass"), f("unit"));
    if (mass.mistake) mistakes[mass.mistake === "error.unit" ? "unit" : "mass"] = mass.mistake;
    var minedOn = f("mined_on").trim();
    if (!minedOn) mistakes.mined_on = "error.required";
    else if (!/^[0-9]{4}-[0-9]{2}-[0-9]{2}$/.test(minedOn) || isNaN(Date.parse(minedOn))) {
      mistakes.mined_on = "error.date";
    }
    var notes = Array.from(f("notes").trim()).slice(0, 2000).join("");
    if (Object.keys(mistakes).length) return { mistakes: mistakes };
    var body = {
      occurred_at: moment(now), lot: lot, miner: miner, site: site,
      mass_g: mass.grams, mined_on: minedOn,
    };
    if (notes) body.notes = notes;
    var unit = form.elements.unit;
    var shown = f("mass").trim().replace(/ /g, "\u00a0") + "\u00a0" + (unit ? unit.options[unit.selectedIndex].text : "");
    return { body: body, shown: shown };
  }

  // -- showing the outbox --------------------------------------------------------------
  function say(text, bad) {
    said.textContent = text || "";
    said.className = bad ? "alert" : "notice";
    said.hidden = !text;
    if (text) panel.hidden = false;
  }
  function row(item) {
    var li = document.createElement("li");
    li.className = "outbox-item " + item.state;
    li.id = "outbox-" + item.id;
    var head = document.createElement("p");
    var lot = document.createElement("strong");
    lot.className = "id";
    lot.textContent = item.body.lot;
    var mass = document.createElement("span");
    mass.textContent = " \u00b7 " + item.shown + " \u00b7 ";
    var state = document.createElement("span");
    state.className = "state";
    state.textContent = words[item.state];
    head.append(lot, mass, state);
    li.append(head);
    if (item.state === "refused") {
      var why = document.createElement("p");
      why.className = "why";
      why.setAttribute("role", "alert");
      why.textContent = (item.words && (item.words[lang] || item.words.mn)) || item.rule || "";
      li.append(why);
    }
    if (item.state !== "waiting") {
      var dismiss = document.createElement("button");
      dismiss.type = "button";
      dismiss.className = "button quiet";
      dismiss.textContent = words.dismiss;
      dismiss.addEventListener("click", function () { remove(item.id).then(render); });
      li.append(dismiss);
    }
    return li;
  }
  async function render() {
    var now = Date.now();
    var all = await items();
    for (var item of all) {
      if (item.state === "synced" && now - (item.synced || now) > KEEP_SYNCED_MS) await remove(item.id);
    }
    all = all.filter(function (i) { return !(i.state === "synced" && now - (i.synced || now) > KEEP_SYNCED_MS); });
    list.replaceChildren.apply(list, all.map(row));
    panel.hidden = all.length === 0 && said.hidden;
    panel.setAttribute("data-waiting", String(all.filter(function (i) {
      return i.state === "waiting";
    }).length));
  }
  function showConnection() { banner.hidden = navigator.onLine; }

  // -- sending the outbox --------------------------------------------------------------
  async function freshCsrf() {
    var response = await fetch("/app/session", { credentials: "same-origin", cache: "no-store" });
    if (!response.ok) return null;
    var who = await response.json();
    return who.actor === actor ? who.csrf_token : null;
  }
  var syncing = false;
  async function syncNow() {
    var waiting = (await items()).filter(function (i) { return i.state === "waiting"; });
    if (!waiting.length) return;
    var csrf = await freshCsrf();
    if (!csrf) { say(words.sign_in, true); return; }
    await register(csrf);
    for (var item of waiting) {
      var response = await fetch("/app/outbox", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({
          type: item.type, body: item.body, signature: item.signature, idempotency_key: item.id,
        }),
      });
      var answer = null;
      try { answer = await response.json(); } catch (e) { answer = null; }
      if (answer && answer.outcome === "recorded") {
        item.state = "synced";
        item.index = answer.index;
        item.synced = Date.now();
      } else if (answer && answer.outcome === "refused") {
        item.state = "refused";
        item.rule = answer.rule;
        item.words = answer.words;
      } else {
        if (response.status === 401 || response.status === 403) say(words.sign_in, true);
        return;  // not this item's fault (signed out, server busy): the next time
      }
      await put(item);
      await render();
    }
    say("");
  }
  function sync() {
    if (syncing || !navigator.onLine) return Promise.resolve();
    syncing = true;
    var run = function () { return syncNow().catch(function () { return undefined; }); };
    var done = navigator.locks ? navigator.locks.request("altan-outbox", run) : run();
    return done.finally(function () { syncing = false; panel.setAttribute("data-synced", "1"); return render(); });
  }

  // -- keeping a delivery offline ------------------------------------------------------
  function mark(form, mistakes) {
    form.querySelectorAll("[aria-invalid]").forEach(function (el) { el.removeAttribute("aria-invalid"); });
    Object.keys(mistakes).forEach(function (name) {
      var el = form.elements[name];
      if (el && el.setAttribute) el.setAttribute("aria-invalid", "true");
    });
  }
  async function keepOffline(form) {
    var read = readDelivery(form, new Date());
    if (read.mistakes) {
      mark(form, read.mistakes);
      say(Object.keys(read.mistakes).map(function (k) { return words[read.mistakes[k]]; }).join(" "), true);
      return;
    }
    mark(form, {});
    var item = {
      id: "offline-" + randomHex(16), actor: actor, type: "ore.delivered", body: read.body,
      shown: read.shown, state: "waiting", created: Date.now(),
    };
    try {
      item.signature = await sign(item.type, item.body);
    } catch (e) {
      say(words.no_key, true);
      return;
    }
    await put(item);
    say(words.saved.replace("{lot}", item.body.lot));
    form.elements.lot.value = newLot(new Date());
    form.elements.mass.value = "";
    if (form.elements.notes) form.elements.notes.value = "";
    if (form.elements.miner_site && form.elements.miner_site.tagName === "SELECT") {
      form.elements.miner_site.selectedIndex = 0;
    }
    await render();
    panel.scrollIntoView({ block: "start" });
  }
  var form = document.querySelector('form[action="' + FORM + '"][method="post"]');
  if (form) {
    if (!navigator.onLine && AUTO_LOT.test(form.elements.lot.value)) {
      // a kept page: its lot id may have been used since; a fresh one
      form.elements.lot.value = newLot(new Date());
    }
    if (form.elements.mined_on) form.elements.mined_on.max = localDay(new Date());
    form.addEventListener("submit", function (event) {
      if (navigator.onLine) return;  // online: the server reads the form
      event.preventDefault();
      var button = form.querySelector("button[data-once]");
      keepOffline(form).catch(function () { say(words.no_key, true); }).finally(function () {
        if (button) button.disabled = false;  // console.js disabled it for a page load
      });
    });
  }

  // -- start ---------------------------------------------------------------------------
  showConnection();
  window.addEventListener("offline", showConnection);
  window.addEventListener("online", function () { showConnection(); sync(); });
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/app/sw.js", { scope: "/app/" }).catch(function () {
      return undefined;
    });
  }
  render().then(function () {
    if (!navigator.onLine) return undefined;
    var token = document.querySelector("form.signout input[name=csrf_token]");
    return register(token ? token.value : "").catch(function () { return undefined; })
      .then(sync);
  });
})();
