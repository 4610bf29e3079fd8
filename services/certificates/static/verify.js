/* Altan Ledger: the browser re-checks what this server sent, and says no more than that.
 *
 * Everything checked here (the token, the log's keys, the checkpoint, the proofs and the
 * facts) comes from the server that served this page: a fake site can make it all agree with
 * its own key. So this is a consistency check of this server's answer, not an independent
 * one; the page says so, and shows the key's fingerprint to compare with the published one.
 * (The independent check in a browser is the static verifier a bank or the regulator hosts
 * with the keys pinned: `altan verifier export`.)
 *
 * The checks themselves are clients/verifier/altan-check.js (`AltanCheck`), inlined before
 * this script; this file is the page's glue.
 *
 * Input: <script type="application/json" id="proof-data"> with
 *   {proof: {index, tree_size, entry (base64), leaf_hash, path[], root_hash (hex)},
 *    token (base64 COSE_Sign1) | null, certificate: {lot, custodian, mass, ledger_index,
 *    leaf_hash_prefix} | null, leaf_hash_prefix (hex) | null, ledger_index | null,
 *    checkpoint (signed note) | null, verifier_keys: [C2SP vkey],
 *    status_proof: {lot, state, map_proof, root: {index, entry, inclusion[]}, tree_size,
 *    checkpoint} | null (absent: a server from before the state map),
 *    verdict, reason (what the page shows; else #verdict's data-verdict)}
 * Output: #browser-check gets data-result="ok|fail|unsupported", data-signature=
 * "ok|unsupported|absent" (the checkpoint's), data-token="ok|unsupported|absent" (the
 * certificate's own COSE signature), data-key=<name+keyid that signed the token>,
 * data-status=<the proven status: genuine | a reason | absent>, data-status-size=<the tree
 * size it is proven at>, data-failed=<step> (fail only) and a sentence in the page language,
 * taken from its data-msg-* attributes ("ok-signed" only when both signatures were checked).
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
 * 11. the status proof (when given, with a token): of the certificate's lot,
 *     against this checkpoint (same text), the state.root entry at
 *     tree_size - 1 in the tree, the map proof of the lot's state; the
 *     verdict and reason from that state are the ones this page shows     not_latest_root |
 *                                                   root_not_in_log | not_a_state_root |
 *                                                   map_proof | status
 *
 * window.altanVerify exposes parseNote and decodeCbor for the tests.
 */
(function () {
  "use strict";

  var check = window.AltanCheck;
  window.altanVerify = { parseNote: check.parseNote, decodeCbor: check.decodeCbor };

  var out = document.getElementById("browser-check");
  var dataElement = document.getElementById("proof-data");
  if (!out || !dataElement) {
    return;
  }
  var fail = check.fail;

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

  // The facts this page shows must be the ones the token signs (a server could show others).
  function checkFacts(facts, shown) {
    if (
      shown &&
      (facts.lot !== shown.lot ||
        facts.custodian !== shown.custodian ||
        String(facts.mass) !== String(shown.mass) ||
        String(facts.index) !== String(shown.ledger_index) ||
        check.bytesToHex(facts.prefix) !== String(shown.leaf_hash_prefix).toLowerCase())
    ) {
      throw fail("facts", "the facts shown are not the ones the certificate signs");
    }
  }

  // 11. The status this page shows must be the one the log commits to.
  async function checkStatus(data, token, facts, checkpoint, result) {
    var proof = data.status_proof;
    if (proof === null || proof === undefined || token === null) {
      return;
    }
    if (proof && typeof proof === "object" && proof.checkpoint !== undefined) {
      // the same checkpoint as the entry's proof (its text; cosignature lines may differ)
      var own = check.parseNote(proof.checkpoint, "not_latest_root");
      if (own.body !== checkpoint.body) {
        throw fail("not_latest_root", "the status proof is against another checkpoint");
      }
    }
    if (!proof || proof.lot !== facts.lot) {
      throw fail("map_proof", "the status proof is of another lot");
    }
    var proven = await check.verifyStatusProof(proof, checkpoint);
    var id = await check.certificateId(token);
    var status = check.statusVerdict(proven.state, id, facts.custodian);
    result.status = status.reason || "genuine";
    result["status-size"] = proven.treeSize.toString();
    // what the page says: the verdict and reason in its data (else the verdict it shows)
    var shown = document.getElementById("verdict");
    var word = data.verdict !== undefined ? data.verdict : shown && shown.getAttribute("data-verdict");
    if (
      (word !== null && word !== undefined && word !== status.verdict) ||
      (data.reason !== undefined && data.reason !== status.reason)
    ) {
      throw fail("status", "the page shows another status than the log commits to");
    }
  }

  async function run(data) {
    // 2. parse
    var vkeys = data.verifier_keys || [];
    var keys = [];
    for (var k = 0; k < vkeys.length; k++) {
      keys.push(await check.parseVerifierKey(vkeys[k]));
    }
    var result = { signature: "absent", token: "absent", status: "absent" };
    var facts = null;
    var token = null;
    // 3. the certificate's own signature, 4. the facts shown are the signed ones
    if (data.token !== null && data.token !== undefined) {
      token = check.base64ToBytes(data.token, "token", "token");
      var signed = await check.checkToken(token, keys, false);
      facts = check.certificateFacts(signed.payload);
      checkFacts(facts, data.certificate);
      result.token = signed.state;
      result.key = signed.key.name + "+" + check.bytesToHex(signed.key.keyId);
    } else if (
      data.leaf_hash_prefix !== null &&
      data.leaf_hash_prefix !== undefined &&
      data.ledger_index !== null &&
      data.ledger_index !== undefined
    ) {
      // no token: the entry the proof must be of is the one the server names
      facts = {
        prefix: check.hexToBytes(data.leaf_hash_prefix, null, "leaf hash prefix"),
        index: check.toBigInt(data.ledger_index, "index"),
      };
    }
    // 5.-8. the entry, at the certificate's index, leads to the root
    var proven = await check.verifyEntryProof(data.proof, null, facts);
    // 9. the checkpoint says the same tree
    if (data.checkpoint === null || data.checkpoint === undefined) {
      return result;
    }
    var note = check.parseNote(data.checkpoint, "checkpoint");
    var checkpoint = check.parseCheckpoint(note.body, "checkpoint");
    if (checkpoint.size !== proven.size || !check.equal(checkpoint.rootHash, proven.rootHash)) {
      throw fail("checkpoint", "the checkpoint names another tree");
    }
    // 10. signed by a listed key
    result.signature = await check.checkNoteSignatures(note, keys, "signature");
    // 11. the status
    await checkStatus(data, token, facts, checkpoint, result);
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
      if (error instanceof check.Failure) {
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
