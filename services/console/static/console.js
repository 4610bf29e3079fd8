// The console's script: print buttons, passkeys, and a submit button that is pressed once
// (the form's key already makes a second submit record nothing; this spares the wait).
(function () {
  "use strict";
  // On a phone the menu is one row swiped sideways: bring the current page's entry into view.
  var here = document.querySelector(".menu a[aria-current=page]");
  var strip = here && here.closest("ul");
  if (strip && strip.scrollWidth > strip.clientWidth) {
    var at = here.getBoundingClientRect();
    var box = strip.getBoundingClientRect();
    strip.scrollLeft += at.left - box.left - (box.width - at.width) / 2;
  }
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });
  // Passkeys (WebAuthn, /app/passkeys/...): sign in on the sign-in page, add one on the
  // account page. The options and answers are JSON with base64url bytes (py_webauthn).
  function fromB64url(text) {
    var b = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
    return Uint8Array.from(b, function (c) { return c.charCodeAt(0); }).buffer;
  }
  function toB64url(buffer) {
    if (!buffer) return null;
    var text = "";
    new Uint8Array(buffer).forEach(function (b) { text += String.fromCharCode(b); });
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function postJSON(url, body, csrf) {
    var headers = { "Content-Type": "application/json" };
    if (csrf) headers["X-CSRF-Token"] = csrf;
    return fetch(url, {
      method: "POST", credentials: "same-origin", headers: headers,
      body: JSON.stringify(body || {}),
    }).then(function (r) {
      if (!r.ok) throw new Error(url + ": " + r.status);
      return r.json();
    });
  }
  function credentialJSON(c) {
    var r = c.response;
    var response = { clientDataJSON: toB64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toB64url(r.attestationObject);
      response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      response.authenticatorData = toB64url(r.authenticatorData);
      response.signature = toB64url(r.signature);
      response.userHandle = toB64url(r.userHandle);
    }
    return {
      id: c.id, rawId: toB64url(c.rawId), type: c.type, response: response,
      clientExtensionResults: c.getClientExtensionResults(),
      authenticatorAttachment: c.authenticatorAttachment || undefined,
    };
  }
  function failed(say) {
    return function () {
      say.textContent = say.getAttribute("data-failed");
      say.className = "alert";
      say.hidden = false;
    };
  }
  var passkeys = window.PublicKeyCredential && navigator.credentials;
  var signIn = document.getElementById("passkey-sign-in");
  if (passkeys && signIn) {
    signIn.hidden = false;
    document.getElementById("passkey-button").addEventListener("click", function () {
      var name = document.getElementById("username");
      var next = document.querySelector("input[name=next]");
      var say = document.getElementById("passkey-say");
      postJSON("/app/passkeys/authentication/options",
        name && name.value ? { username: name.value } : {})
        .then(function (o) {
          return navigator.credentials.get({ publicKey: {
            challenge: fromB64url(o.challenge), rpId: o.rpId, timeout: o.timeout,
            userVerification: o.userVerification,
            allowCredentials: (o.allowCredentials || []).map(function (c) {
              return { type: c.type, id: fromB64url(c.id), transports: c.transports };
            }),
          } });
        })
        .then(function (c) {
          return postJSON("/app/passkeys/authentication/verify", credentialJSON(c));
        })
        .then(function () { window.location.assign(next ? next.value : "/app"); })
        .catch(failed(say));
    });
  }
  var add = document.getElementById("passkey-add");
  if (passkeys && add) {
    add.hidden = false;
    add.addEventListener("click", function () {
      var say = document.getElementById("passkey-say");
      var token = document.querySelector("form.signout input[name=csrf_token]");
      var csrf = token ? token.value : "";
      postJSON("/app/passkeys/registration/options", {}, csrf)
        .then(function (o) {
          return navigator.credentials.create({ publicKey: {
            challenge: fromB64url(o.challenge), rp: o.rp, timeout: o.timeout,
            user: { id: fromB64url(o.user.id), name: o.user.name, displayName: o.user.displayName },
            pubKeyCredParams: o.pubKeyCredParams, attestation: o.attestation,
            authenticatorSelection: o.authenticatorSelection,
            excludeCredentials: (o.excludeCredentials || []).map(function (c) {
              return { type: c.type, id: fromB64url(c.id), transports: c.transports };
            }),
          } });
        })
        .then(function (c) {
          return postJSON("/app/passkeys/registration/verify", credentialJSON(c), csrf);
        })
        .then(function () {
          say.textContent = say.getAttribute("data-added");
          say.className = "notice";
          say.hidden = false;
          add.hidden = true;
        })
        .catch(failed(say));
    });
  }
  document.querySelectorAll("form").forEach(function (form) {
    form.addEventListener("submit", function () {
      form.querySelectorAll("button[data-once]").forEach(function (button) {
        window.setTimeout(function () { button.disabled = true; }, 0);
      });
    });
  });
})();
