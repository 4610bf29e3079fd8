/* Altan Ledger: the checks a browser runs on a certificate and the ledger's proofs.
 *
 * One file, two users: the certificate page of the service (`/c/{token}`, inlined with its
 * own glue, services/certificates/static/verify.js) and the static verifier a bank or the
 * regulator hosts (`altan verifier export`, clients/verifier/verifier.js). Both read this
 * file from here; nothing here touches the page. It defines one global, `AltanCheck`.
 *
 * Every function either returns what it proved or throws a `Failure(step, message)`, whose
 * `step` names the check that failed. The formats are the Python core's (ledger/):
 *   - RFC 9162 inclusion and consistency proofs (ledger/merkle.py)
 *   - c2sp.org signed notes, checkpoints and cosignature/v1 lines (ledger/note.py,
 *     checkpoint.py, cosignature.py)
 *   - the certificate token, a COSE_Sign1 over a CBOR payload (ledger/certificate.py)
 *   - the sparse Merkle map of lot states and its proofs (ledger/statemap.py, ported
 *     exactly: tags "altan-map-v1/leaf|node|empty", bitmap, siblings deepest first, `other`)
 *   - the status proof and the verdict from the proven state (docs: issue 14 spec)
 *
 * Status proof checklist (verifyStatusProof), each failure a named step:
 *   1. the checkpoint is signed by a pinned key (the caller, verifyCheckpoint)
 *   2. tree_size == checkpoint size, root.index == tree_size - 1        not_latest_root
 *   3. the state.root entry is leaf root.index of that checkpoint        root_not_in_log
 *   4. the entry is canonical JSON of a state.root at its own index      not_a_state_root
 *   5. the state (or null) parses strictly; the map proof of SHA-256(lot)
 *      with SHA-256(JCS(state)) (or absence) leads to the entry's root  map_proof
 * Then the verdict comes from the proven state only (statusVerdict).
 */
var AltanCheck = (function () {
  "use strict";

  var HASH_SIZE = 32;
  var MAX_PATH = 128;
  var KEY_BITS = 256;
  var MAX_JSON_INT = 9007199254740991; // 2**53 - 1
  var MAP_NAME = "altan-map-v1";
  var STATE_ROOT_TYPE = "state.root";
  var STATE_FIELDS = [
    "certificate",
    "custodian",
    "holds",
    "latest_index",
    "mass_left",
    "owner",
    "revoked",
    "status",
  ];
  var BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  var ZERO = BigInt(0);
  var ONE = BigInt(1);

  function Failure(step, message) {
    this.step = step;
    this.message = message || step;
  }
  Failure.prototype.toString = function () {
    return this.step + ": " + this.message;
  };

  function fail(step, message) {
    return new Failure(step, message);
  }

  // -- bytes ------------------------------------------------------------------------------

  var encoder = new TextEncoder();

  function utf8(text) {
    return encoder.encode(text);
  }

  function hexToBytes(hex, size, what, step) {
    if (typeof hex !== "string" || hex.length % 2 !== 0 || /[^0-9a-fA-F]/.test(hex)) {
      throw fail(step || "format", what + ": expected hex");
    }
    var bytes = new Uint8Array(hex.length / 2);
    for (var i = 0; i < bytes.length; i++) {
      bytes[i] = parseInt(hex.substr(2 * i, 2), 16);
    }
    if (size !== null && bytes.length !== size) {
      throw fail(step || "format", what + ": expected " + size + " bytes");
    }
    return bytes;
  }

  function bytesToHex(bytes) {
    var hex = "";
    for (var i = 0; i < bytes.length; i++) {
      hex += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
    }
    return hex;
  }

  function bytesToBase64(bytes) {
    var binary = "";
    for (var i = 0; i < bytes.length; i++) {
      binary += String.fromCharCode(bytes[i]);
    }
    return btoa(binary);
  }

  // Standard padded base64 in its one canonical form (as ledger/encoding.py b64decode).
  function base64ToBytes(text, what, step, size) {
    var binary;
    if (typeof text !== "string") {
      throw fail(step || "format", what + ": expected base64 text");
    }
    try {
      binary = atob(text);
    } catch (e) {
      throw fail(step || "format", what + ": expected base64");
    }
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) {
      bytes[i] = binary.charCodeAt(i);
    }
    if (bytesToBase64(bytes) !== text) {
      throw fail(step || "format", what + ": base64 is not in canonical form");
    }
    if (size !== undefined && size !== null && bytes.length !== size) {
      throw fail(step || "format", what + ": expected " + size + " bytes");
    }
    return bytes;
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

  function toBigInt(value, what, step) {
    if (typeof value === "bigint") {
      return value;
    }
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
      throw fail(step || "format", what + ": expected a non-negative integer");
    }
    return BigInt(value);
  }

  async function sha256(bytes) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  }

  // -- RFC 9162 ---------------------------------------------------------------------------

  function hashLeaf(entry) {
    return sha256(concat([new Uint8Array([0]), entry]));
  }

  function hashChildren(left, right) {
    return sha256(concat([new Uint8Array([1]), left, right]));
  }

  // RFC 9162 2.1.3.2: the root that `path` gives for `leaf` at `index` of `size` leaves.
  // Failures: "index" (outside the tree), "root" (a path of the wrong length).
  async function rootFromInclusionProof(leaf, index, size, path) {
    if (path.length > MAX_PATH) {
      throw fail("format", "proof too long");
    }
    if (index >= size) {
      throw fail("index", "leaf index outside the tree");
    }
    var fn = index;
    var sn = size - ONE;
    var r = leaf;
    for (var i = 0; i < path.length; i++) {
      var p = path[i];
      if (sn === ZERO) {
        throw fail("root", "proof longer than the path to the root");
      }
      if ((fn & ONE) === ONE || fn === sn) {
        r = await hashChildren(p, r);
        while ((fn & ONE) === ZERO && fn !== ZERO) {
          fn >>= ONE;
          sn >>= ONE;
        }
      } else {
        r = await hashChildren(r, p);
      }
      fn >>= ONE;
      sn >>= ONE;
    }
    if (sn !== ZERO) {
      throw fail("root", "proof shorter than the path to the root");
    }
    return r;
  }

  // RFC 9162 2.1.4.2 (ledger/merkle.py verify_consistency): the tree of size2 with root2
  // extends the one of size1 with root1. Failure step: "consistency".
  async function verifyConsistency(size1, size2, proof, root1, root2) {
    var step = "consistency";
    if (proof.length > MAX_PATH) {
      throw fail(step, "proof too long");
    }
    if (size1 <= ZERO) {
      throw fail(step, "no consistency proof from an empty tree");
    }
    if (size1 > size2) {
      throw fail(step, "the first tree is larger than the second");
    }
    if (size1 === size2) {
      if (proof.length !== 0 || !equal(root1, root2)) {
        throw fail(step, "equal sizes, different roots");
      }
      return;
    }
    var path = proof.slice();
    if ((size1 & (size1 - ONE)) === ZERO) {
      path.unshift(root1);
    }
    if (!path.length) {
      throw fail(step, "empty consistency proof");
    }
    var fn = size1 - ONE;
    var sn = size2 - ONE;
    while ((fn & ONE) === ONE) {
      fn >>= ONE;
      sn >>= ONE;
    }
    var fr = path[0];
    var sr = path[0];
    for (var i = 1; i < path.length; i++) {
      var c = path[i];
      if (sn === ZERO) {
        throw fail(step, "proof longer than the path to the root");
      }
      if ((fn & ONE) === ONE || fn === sn) {
        fr = await hashChildren(c, fr);
        sr = await hashChildren(c, sr);
        while ((fn & ONE) === ZERO && fn !== ZERO) {
          fn >>= ONE;
          sn >>= ONE;
        }
      } else {
        sr = await hashChildren(sr, c);
      }
      fn >>= ONE;
      sn >>= ONE;
    }
    if (sn !== ZERO) {
      throw fail(step, "proof shorter than the path to the root");
    }
    if (!equal(fr, root1) || !equal(sr, root2)) {
      throw fail(step, "the proof does not lead to both roots");
    }
  }

  // -- signed notes, keys, checkpoints, cosignatures ------------------------------------------

  // c2sp.org/signed-note: the text ends at the LAST blank line (as ledger/note.py and Go's
  // note.Open read it); the signature lines follow it.
  function parseNote(note, step) {
    step = step || "checkpoint";
    if (typeof note !== "string") {
      throw fail(step, "expected a note");
    }
    var split = note.lastIndexOf("\n\n");
    if (split < 0) {
      throw fail(step, "expected a blank line before the signatures");
    }
    var body = note.slice(0, split + 1);
    var lines = note.slice(split + 2).split("\n");
    if (lines.pop() !== "") {
      throw fail(step, "expected the note to end in a newline");
    }
    var signatures = [];
    for (var i = 0; i < lines.length; i++) {
      var match = /^\u2014 (\S+) (\S+)$/.exec(lines[i]);
      if (!match) {
        throw fail(step, "malformed signature line");
      }
      var raw = base64ToBytes(match[2], "signature", step);
      if (raw.length < 5) {
        throw fail(step, "signature too short");
      }
      signatures.push({ name: match[1], keyId: raw.subarray(0, 4), sig: raw.subarray(4) });
    }
    return { body: body, signatures: signatures };
  }

  // c2sp.org/tlog-checkpoint body: origin, decimal size, base64 root, extension lines.
  function parseCheckpoint(body, step) {
    step = step || "checkpoint";
    var lines = body.slice(0, -1).split("\n");
    if (body.slice(-1) !== "\n" || lines.length < 3) {
      throw fail(step, "expected origin, size and root lines");
    }
    for (var i = 0; i < lines.length; i++) {
      if (!lines[i]) {
        throw fail(step, "expected non-empty lines");
      }
    }
    if (!/^(0|[1-9][0-9]{0,19})$/.test(lines[1])) {
      throw fail(step, "expected a decimal tree size");
    }
    return {
      origin: lines[0],
      size: BigInt(lines[1]),
      rootHash: base64ToBytes(lines[2], "root hash", step, HASH_SIZE),
      body: body,
    };
  }

  // <name>+<8 hex key id>+<base64(type || key)>; type 0x01 a log (note) key, 0x04 a witness's.
  async function parseKey(vkey, type, step) {
    step = step || "format";
    if (typeof vkey !== "string") {
      throw fail(step, "expected a verifier key");
    }
    var first = vkey.indexOf("+");
    var second = first < 0 ? -1 : vkey.indexOf("+", first + 1);
    if (first <= 0 || second < 0) {
      throw fail(step, "malformed verifier key");
    }
    var name = vkey.slice(0, first);
    if (/\s/.test(name)) {
      throw fail(step, "malformed verifier key name");
    }
    var keyId = hexToBytes(vkey.slice(first + 1, second), 4, "verifier key id", step);
    var typed = base64ToBytes(vkey.slice(second + 1), "verifier key", step);
    if (typed.length !== 33 || typed[0] !== type) {
      throw fail(step, "verifier key is not an Ed25519 key of type " + type);
    }
    var expected = await sha256(concat([utf8(name + "\n"), typed]));
    if (!equal(expected.subarray(0, 4), keyId)) {
      throw fail(step, "verifier key id does not match the key");
    }
    return { name: name, keyId: keyId, publicKey: typed.subarray(1), vkey: vkey };
  }

  function parseVerifierKey(vkey, step) {
    return parseKey(vkey, 1, step);
  }

  function parseWitnessKey(vkey, step) {
    return parseKey(vkey, 4, step);
  }

  var importedKeys = new Map();

  // null when this browser has no Ed25519 in WebCrypto (then nothing can be checked).
  async function importEd25519(publicKey) {
    var id = bytesToHex(publicKey);
    if (importedKeys.has(id)) {
      return importedKeys.get(id);
    }
    var key;
    try {
      key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, [
        "verify",
      ]);
    } catch (e) {
      key = null;
    }
    importedKeys.set(id, key);
    return key;
  }

  async function ed25519Verify(publicKey, signature, message) {
    var key = await importEd25519(publicKey);
    if (key === null) {
      return null;
    }
    if (signature.length !== 64) {
      return false;
    }
    return crypto.subtle.verify({ name: "Ed25519" }, key, signature, message);
  }

  async function hasEd25519() {
    // a valid key (the RFC 8032 test 1 public key): importing it works where Ed25519 does
    var key = hexToBytes(
      "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
      32,
      "test key"
    );
    return (await importEd25519(key)) !== null;
  }

  // "ok" | "unsupported" | "absent"; throws step "signature" when a known key's line does not
  // verify or no known key signed (as ledger/note.py open_note).
  async function checkNoteSignatures(note, keys, step) {
    step = step || "signature";
    if (!keys.length) {
      return "absent";
    }
    var message = utf8(note.body);
    var verified = 0;
    for (var s = 0; s < note.signatures.length; s++) {
      var line = note.signatures[s];
      for (var k = 0; k < keys.length; k++) {
        var key = keys[k];
        if (key.name !== line.name || !equal(key.keyId, line.keyId)) {
          continue;
        }
        var good = await ed25519Verify(key.publicKey, line.sig, message);
        if (good === null) {
          return "unsupported";
        }
        if (!good) {
          throw fail(step, "a known key's signature does not verify");
        }
        verified += 1;
      }
    }
    if (!verified) {
      throw fail(step, "no known key signed the checkpoint");
    }
    return "ok";
  }

  // A checkpoint from a ledger, against the pinned log keys (all of one name, the origin):
  // signed by one of them, its origin line is their name. Steps "checkpoint" (malformed),
  // "signature" (not signed by a pinned key), "origin" (another log's name).
  async function verifyCheckpoint(noteText, keys) {
    var note = parseNote(noteText, "checkpoint");
    var checkpoint = parseCheckpoint(note.body, "checkpoint");
    var state = await checkNoteSignatures(note, keys, "signature");
    if (state !== "ok") {
      throw fail(state === "unsupported" ? "unsupported" : "signature", "cannot check");
    }
    if (checkpoint.origin !== keys[0].name) {
      throw fail("origin", "the checkpoint names another log");
    }
    checkpoint.note = note;
    return checkpoint;
  }

  // The pinned witnesses with a valid cosignature/v1 line on `note` timestamped within
  // [notBefore, notAfter] (POSIX seconds); each witness once, bad lines never counted
  // (ledger/cosignature.py count_valid_cosignatures). Returns [{name, time}].
  async function validCosignatures(note, witnesses, notBefore, notAfter) {
    var found = [];
    var seen = {};
    for (var s = 0; s < note.signatures.length; s++) {
      var line = note.signatures[s];
      for (var w = 0; w < witnesses.length; w++) {
        var witness = witnesses[w];
        if (witness.name !== line.name || !equal(witness.keyId, line.keyId)) {
          continue;
        }
        if (seen[witness.vkey] || line.sig.length !== 72) {
          continue;
        }
        var stamp = ZERO;
        for (var i = 0; i < 8; i++) {
          stamp = (stamp << BigInt(8)) | BigInt(line.sig[i]);
        }
        if (stamp > BigInt(Number.MAX_SAFE_INTEGER)) {
          continue;
        }
        var time = Number(stamp);
        if ((notAfter !== null && time > notAfter) || (notBefore !== null && time < notBefore)) {
          continue;
        }
        var message = utf8("cosignature/v1\ntime " + time + "\n" + note.body);
        if (await ed25519Verify(witness.publicKey, line.sig.subarray(8), message)) {
          seen[witness.vkey] = true;
          found.push({ name: witness.name, time: time });
        }
      }
    }
    return found;
  }

  // -- CBOR and the certificate token ---------------------------------------------------------

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
        var big = ZERO;
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
          return typeof h.value === "bigint" ? -ONE - h.value : -1 - h.value;
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
  // Returns {state: "ok"|"unsupported", key, payload}. Steps: "token" (not one, or bad
  // signature), "unknown_key" when `separateKeyStep` (the page folds it into "token").
  async function checkToken(token, keys, separateKeyStep) {
    var cose = decodeCbor(token);
    if (!cose || cose.tag !== 18 || !Array.isArray(cose.value) || cose.value.length !== 4) {
      throw fail("token", "expected a COSE_Sign1");
    }
    var protectedBytes = cose.value[0];
    var payloadBytes = cose.value[2];
    var signature = cose.value[3];
    if (
      !(protectedBytes instanceof Uint8Array) ||
      !(cose.value[1] instanceof Map) ||
      cose.value[1].size !== 0 ||
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
      throw fail(
        separateKeyStep ? "unknown_key" : "token",
        "the certificate is signed by a key that is not listed"
      );
    }
    var payload = decodeCbor(payloadBytes);
    if (!(payload instanceof Map)) {
      throw fail("token", "expected the payload to be a map");
    }
    var context = utf8("Signature1");
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
    var good = await ed25519Verify(key.publicKey, signature, message);
    if (good === null) {
      return { state: "unsupported", key: key, payload: payload };
    }
    if (!good) {
      throw fail(
        separateKeyStep ? "bad_signature" : "token",
        "the certificate's signature does not verify"
      );
    }
    return { state: "ok", key: key, payload: payload };
  }

  // The signed facts of a payload (ledger/certificate.py keys 1, 2, 3, 6, 7, 8, 9).
  function certificateFacts(payload) {
    var mass = payload.get(3);
    var origin = payload.get(6);
    var entry = payload.get(9);
    if (
      !Array.isArray(mass) ||
      !Array.isArray(entry) ||
      entry.length !== 2 ||
      !(entry[1] instanceof Uint8Array) ||
      typeof payload.get(2) !== "string" ||
      typeof payload.get(7) !== "string"
    ) {
      throw fail("facts", "the token's payload is not a certificate");
    }
    return {
      kind: payload.get(1) === 2 ? "ore_receipt" : "gold_lot",
      lot: payload.get(2),
      mass: mass[0],
      unit: mass[1] === 1 ? "g" : "mg",
      fineness: mass.length > 2 ? mass[2] : null,
      origin: Array.isArray(origin) ? origin : [],
      custodian: payload.get(7),
      issuedAt: payload.get(8),
      index: typeof entry[0] === "bigint" ? entry[0] : BigInt(entry[0]),
      prefix: entry[1],
    };
  }

  // A QR text (`https://host/c/<base32>`) or the bare base32 token, as ledger/certificate.py
  // parse_qr_text reads it. Returns {token: bytes, server: base URL | null}.
  function parseQrText(text) {
    if (typeof text !== "string" || text.length > 2048) {
      throw fail("token", "expected a QR text of at most 2048 characters");
    }
    var body = text.replace(/\s+/g, "");
    var server = null;
    if (body.indexOf("/") >= 0) {
      var match = /^(https?):\/\/(.*)$/i.exec(body);
      if (!match) {
        throw fail("token", "expected an http(s) URL");
      }
      var rest = match[2];
      var cut = rest.lastIndexOf("/c/");
      if (cut < 0) {
        cut = rest.lastIndexOf("/C/");
      }
      if (cut < 0 || cut + 3 >= rest.length) {
        throw fail("token", "expected a URL ending /c/<token>");
      }
      server = match[1].toLowerCase() + "://" + rest.slice(0, cut);
      body = rest.slice(cut + 3);
    }
    body = body.toUpperCase();
    if (!/^[A-Z2-7]+$/.test(body)) {
      throw fail("token", "expected RFC 4648 base32");
    }
    var bits = 0;
    var value = 0;
    var out = [];
    for (var i = 0; i < body.length; i++) {
      value = ((value << 5) | BASE32.indexOf(body[i])) & 0xffff;
      bits += 5;
      if (bits >= 8) {
        bits -= 8;
        out.push((value >> bits) & 255);
      }
    }
    var token = new Uint8Array(out);
    if (!token.length || token.length > 512) {
      throw fail("token", "expected 1 to 512 bytes");
    }
    // one text per token: no stray bits, no length base32 cannot end at
    if (tokenText(token) !== body) {
      throw fail("token", "base32 is not in canonical form");
    }
    return { token: token, server: server };
  }

  // RFC 4648 base32 of a token: upper case, no padding (ledger/certificate.py token_text).
  function tokenText(token) {
    var out = "";
    var bits = 0;
    var value = 0;
    for (var i = 0; i < token.length; i++) {
      value = ((value << 8) | token[i]) & 0xffff;
      bits += 8;
      while (bits >= 5) {
        bits -= 5;
        out += BASE32[(value >> bits) & 31];
      }
    }
    if (bits > 0) {
      out += BASE32[(value << (5 - bits)) & 31];
    }
    return out;
  }

  // hex of the first 16 bytes of SHA-256(token): the certificate's id.
  async function certificateId(token) {
    return bytesToHex((await sha256(token)).subarray(0, 16));
  }

  // -- RFC 8785 canonical JSON ---------------------------------------------------------------

  function compareCodePoints(a, b) {
    // Python's str order (by code point); JavaScript's sort compares UTF-16 units
    var x = Array.from(a);
    var y = Array.from(b);
    for (var i = 0; i < Math.min(x.length, y.length); i++) {
      var d = x[i].codePointAt(0) - y[i].codePointAt(0);
      if (d) return d;
    }
    return x.length - y.length;
  }

  // RFC 8785 (JCS): sorted keys (by UTF-16 code units), no spaces, ECMAScript numbers.
  function canonicalJson(value) {
    if (value === null || typeof value === "boolean" || typeof value === "string") {
      return JSON.stringify(value);
    }
    if (typeof value === "number") {
      if (!isFinite(value)) {
        throw fail("format", "not a JSON number");
      }
      return JSON.stringify(value);
    }
    if (Array.isArray(value)) {
      return "[" + value.map(canonicalJson).join(",") + "]";
    }
    if (typeof value === "object") {
      var keys = Object.keys(value).sort();
      return (
        "{" +
        keys
          .map(function (k) {
            return JSON.stringify(k) + ":" + canonicalJson(value[k]);
          })
          .join(",") +
        "}"
      );
    }
    throw fail("format", "not a JSON value");
  }

  // Bytes that must be one JSON value in canonical form (as Entry.from_bytes demands).
  function parseCanonicalJson(bytes, step) {
    var text;
    var value;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
      value = JSON.parse(text);
    } catch (e) {
      throw fail(step, "not JSON");
    }
    if (canonicalJson(value) !== text) {
      throw fail(step, "not in canonical form (RFC 8785)");
    }
    return value;
  }

  function isSafeCount(n) {
    return typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
  }

  // -- the state map (ledger/statemap.py) ----------------------------------------------------

  var EMPTY_TAG = utf8("altan-map-v1/empty");
  var LEAF_TAG = utf8("altan-map-v1/leaf");
  var NODE_TAG = utf8("altan-map-v1/node");
  var emptyRoot = null;

  async function mapEmpty() {
    if (emptyRoot === null) {
      emptyRoot = await sha256(EMPTY_TAG);
    }
    return emptyRoot;
  }

  function hashMapLeaf(key, value) {
    return sha256(concat([LEAF_TAG, key, value]));
  }

  function hashMapNode(left, right) {
    return sha256(concat([NODE_TAG, left, right]));
  }

  function lotKey(lotId) {
    return sha256(utf8(lotId));
  }

  function bitAt(bytes, i) {
    return (bytes[i >> 3] >> (7 - (i & 7))) & 1;
  }

  // MapProof.from_json: exactly {bitmap, siblings[, other {key, value}]}, canonical base64
  // of 32 bytes each, as many siblings as bits set.
  function parseMapProof(json) {
    var step = "map_proof";
    if (!json || typeof json !== "object" || Array.isArray(json)) {
      throw fail(step, "a map proof must be a JSON object");
    }
    var names = Object.keys(json).sort().join(",");
    if (names !== "bitmap,siblings" && names !== "bitmap,other,siblings") {
      throw fail(step, "a map proof has the fields bitmap, siblings (and other)");
    }
    if (!Array.isArray(json.siblings) || json.siblings.length > KEY_BITS) {
      throw fail(step, "siblings must be a list of at most 256 hashes");
    }
    var other = null;
    if (json.other !== undefined) {
      var leaf = json.other;
      if (!leaf || typeof leaf !== "object" || Object.keys(leaf).sort().join(",") !== "key,value") {
        throw fail(step, "other must be an object with exactly key and value");
      }
      other = {
        key: base64ToBytes(leaf.key, "other key", step, HASH_SIZE),
        value: base64ToBytes(leaf.value, "other value", step, HASH_SIZE),
      };
    }
    var bitmap = base64ToBytes(json.bitmap, "bitmap", step, HASH_SIZE);
    var siblings = json.siblings.map(function (s, i) {
      return base64ToBytes(s, "sibling " + i, step, HASH_SIZE);
    });
    var count = 0;
    var depth = 0;
    for (var i = 0; i < KEY_BITS; i++) {
      if (bitAt(bitmap, i)) {
        count += 1;
        depth = i + 1;
      }
    }
    if (count !== siblings.length) {
      throw fail(step, "the bitmap names " + count + " siblings, got " + siblings.length);
    }
    return { bitmap: bitmap, siblings: siblings, other: other, depth: depth };
  }

  // statemap.verify: the map with `root` holds `value` at `key` (null: holds nothing).
  async function verifyMap(root, key, value, proof) {
    var step = "map_proof";
    var depth = proof.depth;
    var h;
    if (value !== null) {
      if (proof.other !== null) {
        throw fail(step, "the proof ends at another key's leaf: it proves absence");
      }
      h = await hashMapLeaf(key, value);
    } else if (proof.other === null) {
      h = await mapEmpty();
    } else {
      if (equal(proof.other.key, key)) {
        throw fail(step, "an absence proof cannot end at the key's own leaf");
      }
      for (var b = 0; b < depth; b++) {
        if (bitAt(proof.other.key, b) !== bitAt(key, b)) {
          throw fail(step, "the other leaf's key must share the first " + depth + " bits");
        }
      }
      h = await hashMapLeaf(proof.other.key, proof.other.value);
    }
    var next = 0;
    for (var d = depth; d > 0; d--) {
      var sibling = bitAt(proof.bitmap, d - 1) ? proof.siblings[next++] : await mapEmpty();
      h = bitAt(key, d - 1) ? await hashMapNode(sibling, h) : await hashMapNode(h, sibling);
    }
    if (!equal(h, root)) {
      throw fail(step, "the map proof leads to another root");
    }
  }

  function checkIds(ids, what, step) {
    if (!Array.isArray(ids)) {
      throw fail(step, "lot state " + what + " must be a list");
    }
    for (var i = 0; i < ids.length; i++) {
      if (typeof ids[i] !== "string" || !ids[i]) {
        throw fail(step, "lot state " + what + " must hold non-empty strings");
      }
      if (i > 0 && compareCodePoints(ids[i - 1], ids[i]) >= 0) {
        throw fail(step, "lot state " + what + " must be sorted and distinct");
      }
    }
  }

  // LotState.from_json, strictly: exactly its eight fields, each of its type.
  function parseLotState(json, step) {
    step = step || "map_proof";
    if (!json || typeof json !== "object" || Array.isArray(json)) {
      throw fail(step, "a lot state must be a JSON object");
    }
    if (Object.keys(json).sort().join(",") !== STATE_FIELDS.join(",")) {
      throw fail(step, "a lot state has exactly the fields " + STATE_FIELDS.join(", "));
    }
    ["status", "custodian", "owner"].forEach(function (name) {
      if (typeof json[name] !== "string" || !json[name]) {
        throw fail(step, "lot state " + name + " must be a non-empty string");
      }
    });
    if (json.certificate !== null && (typeof json.certificate !== "string" || !json.certificate)) {
      throw fail(step, "lot state certificate must be a non-empty string or null");
    }
    ["mass_left", "latest_index"].forEach(function (name) {
      if (!isSafeCount(json[name])) {
        throw fail(step, "lot state " + name + " must be an integer in [0, 2**53 - 1]");
      }
    });
    checkIds(json.holds, "holds", step);
    checkIds(json.revoked, "revoked", step);
    return json;
  }

  // LotState.hash: SHA-256 of the RFC 8785 bytes of the state.
  function stateHash(state) {
    return sha256(utf8(canonicalJson(state)));
  }

  // -- the status proof --------------------------------------------------------------------

  function isObject(value) {
    return !!value && typeof value === "object" && !Array.isArray(value);
  }

  // The checklist at the top of this file, steps 2 to 5, against a checkpoint whose
  // signature the caller verified ({size: BigInt, rootHash}). Returns {lot, state (null: the
  // lot does not exist), treeSize, rootIndex, lots, mapRoot}.
  async function verifyStatusProof(proof, checkpoint) {
    if (!isObject(proof) || !isObject(proof.root)) {
      throw fail("not_latest_root", "expected a status proof");
    }
    // 2. the latest root: the checkpoint's own last entry
    var size = toBigInt(proof.tree_size, "tree size", "not_latest_root");
    var index = toBigInt(proof.root.index, "root index", "not_latest_root");
    if (size !== checkpoint.size || index !== size - ONE) {
      throw fail("not_latest_root", "the status proof is not against the latest checkpoint");
    }
    // 3. the state.root entry is in that tree
    var entry = base64ToBytes(proof.root.entry, "state.root entry", "root_not_in_log");
    if (!Array.isArray(proof.root.inclusion) || proof.root.inclusion.length > MAX_PATH) {
      throw fail("root_not_in_log", "expected an inclusion proof");
    }
    var path = proof.root.inclusion.map(function (h, i) {
      return base64ToBytes(h, "inclusion hash " + i, "root_not_in_log", HASH_SIZE);
    });
    var computed;
    try {
      computed = await rootFromInclusionProof(await hashLeaf(entry), index, size, path);
    } catch (e) {
      if (e instanceof Failure) {
        throw fail("root_not_in_log", e.message);
      }
      throw e;
    }
    if (!equal(computed, checkpoint.rootHash)) {
      throw fail("root_not_in_log", "the state.root entry is not in the checkpoint's tree");
    }
    // 4. a state.root entry covering every entry before it
    var parsed = parseCanonicalJson(entry, "not_a_state_root");
    if (!isObject(parsed) || parsed.type !== STATE_ROOT_TYPE || parsed.v !== 1) {
      throw fail("not_a_state_root", "the entry is not a state.root");
    }
    var body = parsed.body;
    if (
      parsed.index !== proof.root.index ||
      !isObject(body) ||
      Object.keys(body).sort().join(",") !== "lots,map,root,size" ||
      body.map !== MAP_NAME ||
      body.size !== parsed.index ||
      !isSafeCount(body.lots)
    ) {
      throw fail("not_a_state_root", "the state.root entry is not of this map at its index");
    }
    var mapRoot = base64ToBytes(body.root, "state.root root", "not_a_state_root", HASH_SIZE);
    // 5. the lot's state, or its absence, in that map
    if (typeof proof.lot !== "string" || !proof.lot) {
      throw fail("map_proof", "expected the lot's id");
    }
    var state = proof.state === null ? null : parseLotState(proof.state, "map_proof");
    if (proof.state === undefined) {
      throw fail("map_proof", "expected the lot's state or null");
    }
    var mapProof = parseMapProof(proof.map_proof);
    var value = state === null ? null : await stateHash(state);
    await verifyMap(mapRoot, await lotKey(proof.lot), value, mapProof);
    return {
      lot: proof.lot,
      state: state,
      treeSize: size,
      rootIndex: index,
      lots: body.lots,
      mapRoot: mapRoot,
    };
  }

  // The verdict on a certificate from the PROVEN state of its lot (never the server's
  // words): ledger/status.py judge, in the order of services/certificates/verdict.py steps
  // 6-7 (so the service, `altan verify` and this page agree).
  function statusVerdict(state, certificateId, custodian) {
    if (state === null) {
      return { verdict: "not_genuine", reason: "not_in_log" };
    }
    if (state.revoked.indexOf(certificateId) >= 0) {
      return { verdict: "not_genuine", reason: "revoked" };
    }
    if (state.status !== "active") {
      return { verdict: "not_current", reason: "consumed" };
    }
    if (state.custodian !== custodian) {
      return { verdict: "not_current", reason: "transferred" };
    }
    if (state.certificate !== certificateId) {
      return { verdict: "not_current", reason: "superseded" };
    }
    if (state.holds.length) {
      return { verdict: "not_current", reason: "held" };
    }
    return { verdict: "genuine", reason: null };
  }

  // The certificate's entry (an InclusionProof of the answer: hex hashes) is the one the
  // token names, in the tree of `checkpoint`. Steps: format, leaf_hash, leaf_prefix, index,
  // root, checkpoint (the proof is of another tree than the checkpoint's).
  async function verifyEntryProof(proof, checkpoint, facts) {
    if (!isObject(proof) || !Array.isArray(proof.path)) {
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
    if (!equal(await hashLeaf(entry), leafHash)) {
      throw fail("leaf_hash", "the entry does not hash to the leaf hash");
    }
    if (facts) {
      if (!facts.prefix.length || !startsWith(leafHash, facts.prefix)) {
        throw fail("leaf_prefix", "the certificate names another entry");
      }
      if (facts.index !== index) {
        throw fail("index", "the proof is for another entry");
      }
    }
    if (!equal(await rootFromInclusionProof(leafHash, index, size, path), rootHash)) {
      throw fail("root", "the proof leads to another root");
    }
    if (checkpoint && (checkpoint.size !== size || !equal(checkpoint.rootHash, rootHash))) {
      throw fail("checkpoint", "the checkpoint names another tree");
    }
    return { index: index, size: size, rootHash: rootHash, leafHash: leafHash };
  }

  return {
    Failure: Failure,
    fail: fail,
    HASH_SIZE: HASH_SIZE,
    MAX_PATH: MAX_PATH,
    utf8: utf8,
    hexToBytes: hexToBytes,
    bytesToHex: bytesToHex,
    base64ToBytes: base64ToBytes,
    bytesToBase64: bytesToBase64,
    concat: concat,
    equal: equal,
    startsWith: startsWith,
    toBigInt: toBigInt,
    sha256: sha256,
    hashLeaf: hashLeaf,
    hashChildren: hashChildren,
    rootFromInclusionProof: rootFromInclusionProof,
    verifyConsistency: verifyConsistency,
    parseNote: parseNote,
    parseCheckpoint: parseCheckpoint,
    parseVerifierKey: parseVerifierKey,
    parseWitnessKey: parseWitnessKey,
    hasEd25519: hasEd25519,
    checkNoteSignatures: checkNoteSignatures,
    verifyCheckpoint: verifyCheckpoint,
    validCosignatures: validCosignatures,
    decodeCbor: decodeCbor,
    checkToken: checkToken,
    certificateFacts: certificateFacts,
    parseQrText: parseQrText,
    tokenText: tokenText,
    certificateId: certificateId,
    canonicalJson: canonicalJson,
    parseCanonicalJson: parseCanonicalJson,
    lotKey: lotKey,
    parseMapProof: parseMapProof,
    verifyMap: verifyMap,
    parseLotState: parseLotState,
    stateHash: stateHash,
    verifyStatusProof: verifyStatusProof,
    statusVerdict: statusVerdict,
    verifyEntryProof: verifyEntryProof,
  };
})();
