/* Altan Ledger: the browser re-checks the certificate's inclusion proof on its own.
 *
 * Input: <script type="application/json" id="proof-data"> with
 *   {proof: {index, tree_size, entry (base64), leaf_hash, path[], root_hash (hex)},
 *    leaf_hash_prefix (hex) | null, ledger_index | null, checkpoint (signed note) | null,
 *    verifier_keys: [C2SP vkey]}
 * Output: #browser-check gets data-result="ok|fail|unsupported", data-signature=
 * "ok|unsupported|absent" (ok only), data-failed=<step> (fail only) and a sentence in the
 * page language, taken from its data-msg-* attributes.
 *
 * Checklist:
 *  1. WebCrypto (crypto.subtle), TextEncoder and BigInt exist           else unsupported
 *  2. the data parses: hex and base64, 32-byte hashes, <= 128 path hashes  format
 *  3. SHA-256(0x00 || entry) equals leaf_hash                               leaf_hash
 *  4. leaf_hash begins with the certificate's leaf_hash_prefix             leaf_prefix
 *  5. the proof is for the certificate's ledger index                      index
 *  6. the root recomputed per RFC 9162 §2.1.3.2 equals root_hash            root
 *  7. the checkpoint body's size and root lines equal tree_size, root_hash  checkpoint
 *  8. where the browser has Ed25519: every signature line by a known key
 *     verifies over the note body, and at least one known key signed      signature
 */
(function () {
  "use strict";

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
      say(extra.signature === "ok" ? "ok-signed" : "ok-unsigned");
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

  // c2sp.org/signed-note: body (text up to and including its last newline) and signatures.
  function parseNote(note) {
    if (typeof note !== "string") {
      throw fail("checkpoint", "expected a note");
    }
    var split = note.indexOf("\n\n");
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
    // 3. the leaf hash is the entry's
    if (!equal(await hashLeaf(entry), leafHash)) {
      throw fail("leaf_hash", "the entry does not hash to the leaf hash");
    }
    // 4. and the certificate names it
    if (data.leaf_hash_prefix !== null && data.leaf_hash_prefix !== undefined) {
      var prefix = hexToBytes(data.leaf_hash_prefix, null, "leaf hash prefix");
      if (!prefix.length || !startsWith(leafHash, prefix)) {
        throw fail("leaf_prefix", "the certificate names another entry");
      }
    }
    // 5. at the certificate's index
    if (data.ledger_index !== null && data.ledger_index !== undefined) {
      if (toBigInt(data.ledger_index, "ledger index") !== index) {
        throw fail("index", "the proof is for another entry");
      }
    }
    // 6. the root
    if (!equal(await rootFromInclusionProof(leafHash, index, size, path), rootHash)) {
      throw fail("root", "the proof leads to another root");
    }
    // 7. the checkpoint says the same tree
    if (data.checkpoint === null || data.checkpoint === undefined) {
      return "absent";
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
    // 8. signed by the log
    return await checkSignatures(note, data.verifier_keys || []);
  }

  // 1. what the browser offers
  if (
    !window.crypto ||
    !window.crypto.subtle ||
    typeof TextEncoder === "undefined" ||
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
    function (signature) {
      finish("ok", { signature: signature });
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
