/* Altan Ledger: the browser re-checks what this server sent, and says no more than that.
 *
 * Everything checked here (the token, the log's keys, the checkpoint, the proof and the facts)
 * comes from the server that served this page: a fake site can make it all agree with its
 * own key. So this is a consistency check of this server's answer, not an independent one;
 * the page says so, and shows the key's fingerprint to compare with the published one.
 *
 * Input: <script type="application/json" id="proof-data"> with
 *   {proof: {index, tree_size, entry (base64), leaf_hash, path[], root_hash (hex)},
 *    token (base64 COSE_Sign1) | null, certificate: {lot, custodian, mass, ledger_index,
 *    leaf_hash_prefix} | null, leaf_hash_prefix (hex) | null, ledger_index | null,
 *    checkpoint (signed note) | null, verifier_keys: [C2SP vkey]}
 * Output: #browser-check gets data-result="ok|fail|unsupported", data-signature=
 * "ok|unsupported|absent" (the checkpoint's), data-token="ok|unsupported|absent" (the
 * certificate's own COSE signature), data-key=<name+keyid that signed the token>,
 * data-failed=<step> (fail only) and a sentence in the page language, taken from its
 * data-msg-* attributes ("ok-signed" only when both signatures were checked).
 *
 * Checklist:
 *  1. WebCrypto (crypto.subtle), TextEncoder and BigInt exist           else unsupported
 *  2. the data parses: hex and base64, 32-byte hashes, <= 128 path hashes  format
 *  3. the token (when given) is a COSE_Sign1 {alg: EdDSA, kid} whose kid
 *     is one of the listed keys; where the browser has Ed25519, its
 *     signature verifies over the Sig_structure (RFC 9052 4.4)         token
 *  4. the facts shown are the token's (lot, custodian, mass, entry)       facts
 *  5. SHA-256(0x00 || entry) equals leaf_hash                               leaf_hash
 *  6. leaf_hash begins with the certificate's leaf_hash_prefix             leaf_prefix
 *  7. the proof is for the certificate's ledger index                      index
 *  8. the root recomputed per RFC 9162 2.1.3.2 equals root_hash             root
 *  9. the checkpoint body's size and root lines equal tree_size, root_hash  checkpoint
 * 10. where the browser has Ed25519: every signature line by a listed key
 *     verifies over the note body, and at least one listed key signed     signature
 *
 * The signed note is split at its LAST blank line (c2sp.org/signed-note; ledger/note.py).
 * window.altanVerify exposes parseNote and decodeCbor for the tests.
 */
(function () {
  "use strict";

  window.altanVerify = { parseNote: parseNote, decodeCbor: decodeCbor };

  var out = document.getElementById("browser-check");
  var dataElement = document.getElementById("proof-data");
  if (!out || !dataElement) {
    return;
  }

  var MAX_PATH = 128;
  var HASH_SIZE = 32;

  function say(key) {
    var message = out.getAttribute("data-msg-" + key);
    if (message) {
      out.textContent = message;
    }
  }

  function finish(result, extra) {
    var name;
    for (name in extra) {
      if (Object.prototype.hasOwnProperty.call(extra, name)) {
        out.setAttribute("data-" + name, extra[name]);
      }
    }
    out.setAttribute("data-result", result);
    if (result === "ok") {
      // "signed" only when both the certificate's and the checkpoint's signatures verified
      say(extra.signature === "ok" && extra.token === "ok" ? "ok-signed" : "ok-unsigned");
    } else {
      say(result);
    }
  }

  function Failure(step, message) {
    this.step = step;
    this.message = message;
  }

  function fail(step, message) {
    return new Failure(step, message || step);
  }

  function hexToBytes(hex, size, what) {
    if (typeof hex !== "string" || hex.length % 2 !== 0 || /[^0-9a-fA-F]/.test(hex)) {
      throw fail("format", what + ": expected hex");
    }
    var bytes = new Uint8Array(hex.length / 2);
    for (var i = 0; i < bytes.length; i++) {
      bytes[i] = parseInt(hex.substr(2 * i, 2), 16);
    }
    if (size !== null && bytes.length !== size) {
      throw fail("format", what + ": expected " + size + " bytes");
    }
    return bytes;
  }

  function base64ToBytes(text, what) {
    var binary;
    try {
      binary = atob(text);
    } catch (e) {
      throw fail("format", what + ": expected base64");
    }
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) {
      bytes[i] = binary.charCodeAt(i);
    }
    return bytes;
  }

  function bytesToBase64(bytes) {
    var binary = "";
    for (var i = 0; i < bytes.length; i++) {
      binary += String.fromCharCode(bytes[i]);
    }
    return btoa(binary);
  }

  function concat(parts) {
    var size = 0;
    var i;
    for (i = 0; i < parts.length; i++) {
      size += parts[i].length;
    }
    var joined = new Uint8Array(size);
    var offset = 0;
    for (i = 0; i < parts.length; i++) {
      joined.set(parts[i], offset);
      offset += parts[i].length;
    }
    return joined;
  }

  function equal(a, b) {
    if (a.length !== b.length) {
      return false;
    }
    var diff = 0;
    for (var i = 0; i < a.length; i++) {
      diff |= a[i] ^ b[i];
    }
    return diff === 0;
  }

  function startsWith(bytes, prefix) {
    return bytes.length >= prefix.length && equal(bytes.subarray(0, prefix.length), prefix);
  }

  async function sha256(bytes) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  }

  function hashLeaf(entry) {
    return sha256(concat([new Uint8Array([0]), entry]));
  }

  function hashChildren(left, right) {
    return sha256(concat([new Uint8Array([1]), left, right]));
  }

  function toBigInt(value, what) {
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
      throw fail("format", what + ": expected a non-negative integer");
    }
    return BigInt(value);
  }

  // RFC 9162 §2.1.3.2: the root that `path` gives for `leaf` at `index` of `size` leaves.
  async function rootFromInclusionProof(leaf, index, size, path) {
    if (index >= size) {
      throw fail("index", "leaf index outside the tree");
    }
    var fn = index;
    var sn = size - BigInt(1);
    var r = leaf;
    var zero = BigInt(0);
    var one = BigInt(1);
    for (var i = 0; i < path.length; i++) {
      var p = path[i];
      if (sn === zero) {
        throw fail("root", "proof longer than the path to the root");
      }
      if ((fn & one) === one || fn === sn) {
        r = await hashChildren(p, r);
        while ((fn & one) === zero && fn !== zero) {
          fn >>= one;
          sn >>= one;
        }
      } else {
        r = await hashChildren(r, p);
      }
      fn >>= one;
      sn >>= one;
    }
    if (sn !== zero) {
      throw fail("root", "proof shorter than the path to the root");
    }
    return r;
  }

  // c2sp.org/signed-note: the text ends at the LAST blank line (as ledger/note.py and Go's
  // note.Open read it); the signature lines follow it.
  function parseNote(note) {
    if (typeof note !== "string") {
      throw fail("checkpoint", "expected a note");
    }
    var split = note.lastIndexOf("\n\n");
    if (split < 0) {
      throw fail("checkpoint", "expected a blank line before the signatures");
    }
    var body = note.slice(0, split + 1);
    var lines = note.slice(split + 2).split("\n");
    if (lines.pop() !== "") {
      throw fail("checkpoint", "expected the note to end in a newline");
    }
    var signatures = [];
    for (var i = 0; i < lines.length; i++) {
      var match = /^\u2014 (\S+) (\S+)$/.exec(lines[i]);
      if (!match) {
        throw fail("checkpoint", "malformed signature line");
      }
      var raw = base64ToBytes(match[2], "signature");
      if (raw.length < 5) {
        throw fail("checkpoint", "signature too short");
      }
      signatures.push({ name: match[1], keyId: raw.subarray(0, 4), sig: raw.subarray(4) });
    }
    return { body: body, signatures: signatures };
  }

  // c2sp.org/signed-note verifier key: <name>+<8 hex key id>+<base64(0x01 || key)>.
  async function parseVerifierKey(vkey) {
    var first = vkey.indexOf("+");
    var second = first < 0 ? -1 : vkey.indexOf("+", first + 1);
    if (first <= 0 || second < 0) {
      throw fail("format", "malformed verifier key");
    }
    var name = vkey.slice(0, first);
    var keyId = hexToBytes(vkey.slice(first + 1, second), 4, "verifier key id");
    var typed = base64ToBytes(vkey.slice(second + 1), "verifier key");
    if (typed.length !== 33 || typed[0] !== 1) {
      throw fail("format", "verifier key is not an Ed25519 key");
    }
    var expected = await sha256(
      concat([new TextEncoder().encode(name + "\n"), typed])
    );
    if (!equal(expected.subarray(0, 4), keyId)) {
      throw fail("format", "verifier key id does not match the key");
    }
    return { name: name, keyId: keyId, publicKey: typed.subarray(1) };
  }

  // A small strict CBOR reader (RFC 8949) for the token: definite lengths only, no floats,
  // at most 4 levels deep. Integers of 8 bytes are BigInt, others Number; maps are Map.
  function decodeCbor(bytes) {
    var pos = 0;
    function need(n) {
      if (pos + n > bytes.length) {
        throw fail("token", "CBOR ends early");
      }
    }
    function head() {
      need(1);
      var first = bytes[pos++];
      var major = first >> 5;
      var info = first & 31;
      var value;
      if (info < 24) {
        value = info;
      } else if (info <= 27) {
        var size = 1 << (info - 24);
        need(size);
        var big = BigInt(0);
        for (var i = 0; i < size; i++) {
          big = (big << BigInt(8)) | BigInt(bytes[pos++]);
        }
        value = big <= BigInt(Number.MAX_SAFE_INTEGER) && info < 27 ? Number(big) : big;
      } else {
        throw fail("token", "indefinite or reserved CBOR length");
      }
      return { major: major, value: value };
    }
    function length(value) {
      if (typeof value !== "number" || value > bytes.length) {
        throw fail("token", "CBOR length too large");
      }
      return value;
    }
    function item(depth) {
      if (depth > 4) {
        throw fail("token", "CBOR nested too deep");
      }
      var h = head();
      var n;
      var i;
      switch (h.major) {
        case 0:
          return h.value;
        case 1:
          return typeof h.value === "bigint" ? -BigInt(1) - h.value : -1 - h.value;
        case 2:
          n = length(h.value);
          need(n);
          pos += n;
          return bytes.subarray(pos - n, pos);
        case 3:
          n = length(h.value);
          need(n);
          pos += n;
          try {
            return new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(pos - n, pos));
          } catch (e) {
            throw fail("token", "CBOR text is not UTF-8");
          }
        case 4:
          n = length(h.value);
          var list = [];
          for (i = 0; i < n; i++) {
            list.push(item(depth + 1));
          }
          return list;
        case 5:
          n = length(h.value);
          var map = new Map();
          for (i = 0; i < n; i++) {
            var key = item(depth + 1);
            map.set(typeof key === "bigint" ? key.toString() : key, item(depth + 1));
          }
          return map;
        case 6:
          return { tag: h.value, value: item(depth + 1) };
        default:
          if (h.value === 20) return false;
          if (h.value === 21) return true;
          if (h.value === 22) return null;
          throw fail("token", "unexpected CBOR simple value");
      }
    }
    var value = item(0);
    if (pos !== bytes.length) {
      throw fail("token", "trailing bytes after the CBOR item");
    }
    return value;
  }

  function cborHead(major, n) {
    if (n < 24) return new Uint8Array([(major << 5) | n]);
    if (n < 256) return new Uint8Array([(major << 5) | 24, n]);
    return new Uint8Array([(major << 5) | 25, n >> 8, n & 255]);
  }

  // The token: COSE_Sign1 = 18([protected bstr, {}, payload bstr, signature bstr]).
  // Returns {state: "ok"|"unsupported", key, payload}; throws a Failure when it is not one,
  // names no listed key, or its signature does not verify.
  async function checkToken(tokenBase64, keys) {
    var token = decodeCbor(base64ToBytes(tokenBase64, "token"));
    if (!token || token.tag !== 18 || !Array.isArray(token.value) || token.value.length !== 4) {
      throw fail("token", "expected a COSE_Sign1");
    }
    var protectedBytes = token.value[0];
    var payloadBytes = token.value[2];
    var signature = token.value[3];
    if (
      !(protectedBytes instanceof Uint8Array) ||
      !(token.value[1] instanceof Map) ||
      token.value[1].size !== 0 ||
      !(payloadBytes instanceof Uint8Array) ||
      !(signature instanceof Uint8Array) ||
      signature.length !== 64
    ) {
      throw fail("token", "expected COSE_Sign1 [bstr, {}, bstr, 64-byte bstr]");
    }
    var header = decodeCbor(protectedBytes);
    if (!(header instanceof Map) || header.size !== 2 || header.get(1) !== -8) {
      throw fail("token", "expected the protected header {1: -8 (EdDSA), 4: kid}");
    }
    var kid = header.get(4);
    if (!(kid instanceof Uint8Array) || kid.length !== 4) {
      throw fail("token", "expected a 4-byte kid");
    }
    var key = null;
    for (var k = 0; k < keys.length; k++) {
      if (equal(keys[k].keyId, kid)) {
        key = keys[k];
      }
    }
    if (key === null) {
      throw fail("token", "the certificate is signed by a key this server does not list");
    }
    var payload = decodeCbor(payloadBytes);
    if (!(payload instanceof Map)) {
      throw fail("token", "expected the payload to be a map");
    }
    var imported = await importEd25519(key.publicKey);
    if (imported === null) {
      return { state: "unsupported", key: key, payload: payload };
    }
    var context = new TextEncoder().encode("Signature1");
    var message = concat([
      new Uint8Array([0x84]),
      cborHead(3, context.length),
      context,
      cborHead(2, protectedBytes.length),
      protectedBytes,
      new Uint8Array([0x40]),
      cborHead(2, payloadBytes.length),
      payloadBytes,
    ]);
    if (!(await crypto.subtle.verify({ name: "Ed25519" }, imported, signature, message))) {
      throw fail("token", "the certificate's signature does not verify");
    }
    return { state: "ok", key: key, payload: payload };
  }

  // The facts this page shows must be the ones the token signs (a server could show others).
  function checkFacts(payload, shown) {
    var mass = payload.get(3);
    var entry = payload.get(9);
    if (!Array.isArray(mass) || !Array.isArray(entry) || entry.length !== 2) {
      throw fail("facts", "the token's payload is not a certificate");
    }
    if (shown) {
      if (
        payload.get(2) !== shown.lot ||
        payload.get(7) !== shown.custodian ||
        String(mass[0]) !== String(shown.mass) ||
        String(entry[0]) !== String(shown.ledger_index) ||
        !(entry[1] instanceof Uint8Array) ||
        bytesToHex(entry[1]) !== String(shown.leaf_hash_prefix).toLowerCase()
      ) {
        throw fail("facts", "the facts shown are not the ones the certificate signs");
      }
    }
    return { index: entry[0], prefix: entry[1] };
  }

  function bytesToHex(bytes) {
    var hex = "";
    for (var i = 0; i < bytes.length; i++) {
      hex += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
    }
    return hex;
  }

  async function importEd25519(publicKey) {
    try {
      return await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, [
        "verify",
      ]);
    } catch (e) {
      return null; // this browser has no Ed25519 in WebCrypto
    }
  }

  // Returns "ok", "unsupported" or "absent"; throws a Failure when a signature is bad.
  async function checkSignatures(note, vkeys) {
    if (!vkeys.length) {
      return "absent";
    }
    var keys = [];
    for (var i = 0; i < vkeys.length; i++) {
      keys.push(await parseVerifierKey(vkeys[i]));
    }
    var message = new TextEncoder().encode(note.body);
    var verified = 0;
    for (var s = 0; s < note.signatures.length; s++) {
      var line = note.signatures[s];
      for (var k = 0; k < keys.length; k++) {
        var key = keys[k];
        if (key.name !== line.name || !equal(key.keyId, line.keyId)) {
          continue;
        }
        var imported = await importEd25519(key.publicKey);
        if (imported === null) {
          return "unsupported";
        }
        var good =
          line.sig.length === 64 &&
          (await crypto.subtle.verify({ name: "Ed25519" }, imported, line.sig, message));
        if (!good) {
          throw fail("signature", "a known key's signature does not verify");
        }
        verified += 1;
      }
    }
    if (!verified) {
      throw fail("signature", "no known key signed the checkpoint");
    }
    return "ok";
  }

  async function run(data) {
    // 2. parse
    var proof = data.proof;
    if (!proof || typeof proof !== "object" || !Array.isArray(proof.path)) {
      throw fail("format", "expected a proof");
    }
    if (proof.path.length > MAX_PATH) {
      throw fail("format", "proof too long");
    }
    var entry = base64ToBytes(proof.entry, "entry");
    var leafHash = hexToBytes(proof.leaf_hash, HASH_SIZE, "leaf hash");
    var rootHash = hexToBytes(proof.root_hash, HASH_SIZE, "root hash");
    var path = proof.path.map(function (h, i) {
      return hexToBytes(h, HASH_SIZE, "path hash " + i);
    });
    var index = toBigInt(proof.index, "index");
    var size = toBigInt(proof.tree_size, "tree size");
    var vkeys = data.verifier_keys || [];
    var keys = [];
    for (var k = 0; k < vkeys.length; k++) {
      keys.push(await parseVerifierKey(vkeys[k]));
    }
    var result = { signature: "absent", token: "absent" };
    // 3. the certificate's own signature, 4. the facts shown are the signed ones
    var prefixHex = data.leaf_hash_prefix;
    var ledgerIndex = data.ledger_index;
    if (data.token !== null && data.token !== undefined) {
      var token = await checkToken(data.token, keys);
      var signed = checkFacts(token.payload, data.certificate);
      result.token = token.state;
      result.key = token.key.name + "+" + bytesToHex(token.key.keyId);
      // the entry the proof must be of is the one the token signs, not what the server says
      prefixHex = bytesToHex(signed.prefix);
      ledgerIndex = typeof signed.index === "bigint" ? signed.index : BigInt(signed.index);
    }
    // 5. the leaf hash is the entry's
    if (!equal(await hashLeaf(entry), leafHash)) {
      throw fail("leaf_hash", "the entry does not hash to the leaf hash");
    }
    // 6. and the certificate names it
    if (prefixHex !== null && prefixHex !== undefined) {
      var prefix = hexToBytes(prefixHex, null, "leaf hash prefix");
      if (!prefix.length || !startsWith(leafHash, prefix)) {
        throw fail("leaf_prefix", "the certificate names another entry");
      }
    }
    // 7. at the certificate's index
    if (ledgerIndex !== null && ledgerIndex !== undefined) {
      var wanted = typeof ledgerIndex === "bigint" ? ledgerIndex : toBigInt(ledgerIndex, "index");
      if (wanted !== index) {
        throw fail("index", "the proof is for another entry");
      }
    }
    // 8. the root
    if (!equal(await rootFromInclusionProof(leafHash, index, size, path), rootHash)) {
      throw fail("root", "the proof leads to another root");
    }
    // 9. the checkpoint says the same tree
    if (data.checkpoint === null || data.checkpoint === undefined) {
      return result;
    }
    var note = parseNote(data.checkpoint);
    var lines = note.body.split("\n");
    if (
      lines.length < 4 ||
      lines[1] !== size.toString() ||
      lines[2] !== bytesToBase64(rootHash)
    ) {
      throw fail("checkpoint", "the checkpoint names another tree");
    }
    // 10. signed by a listed key
    result.signature = await checkSignatures(note, vkeys);
    return result;
  }

  // 1. what the browser offers
  if (
    !window.crypto ||
    !window.crypto.subtle ||
    typeof TextEncoder === "undefined" ||
    typeof TextDecoder === "undefined" ||
    typeof BigInt === "undefined"
  ) {
    finish("unsupported", {});
    return;
  }
  var data;
  try {
    data = JSON.parse(dataElement.textContent);
  } catch (e) {
    finish("fail", { failed: "format" });
    return;
  }
  say("checking");
  run(data).then(
    function (result) {
      finish("ok", result);
    },
    function (error) {
      if (error instanceof Failure) {
        finish("fail", { failed: error.step });
        if (window.console) {
          window.console.warn("browser check failed: " + error.message);
        }
      } else {
        finish("unsupported", { failed: "error" });
        if (window.console) {
          window.console.warn("browser check could not run: " + error);
        }
      }
    }
  );
})();
