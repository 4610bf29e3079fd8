// The console's service worker (scope /app/): keeps the centre's pages as of the last
// online visit and serves them when the network is gone. Each page inlines its style
// sheet and scripts, so a kept page is the whole app shell (layout, CSS, JS, and for the
// delivery form the miner and site picker). Only plain GET navigations of OFFLINE_PAGES
// are kept (a search of the picker is not); a redirect (to sign in) never is. Signing out
// empties the cache: pages name the actor and carry a CSRF token.
"use strict";

const CACHE = "altan-console-v1";
const FORM = "/app/centre/deliveries/new";
const OFFLINE_PAGES = ["/app/centre", FORM, "/app/centre/deliveries", "/app/centre/stock"];
const SERVED_ONLINE = 'data-served="network"';
const SERVED_FROM_CACHE = 'data-served="cache"';

self.addEventListener("install", (event) => {
  event.waitUntil(
    keep(new Request(FORM, { credentials: "same-origin" }))
      .catch(() => undefined)
      .then(() => self.skipWaiting())
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(
        names.filter((name) => name !== CACHE).map((name) => caches.delete(name))))
      .then(() => self.clients.claim())
  );
});

function keepable(url) {
  return url.origin === self.location.origin && OFFLINE_PAGES.includes(url.pathname)
    && !url.searchParams.has("q") && !url.searchParams.has("before");
}

// Fetch a page and keep it when it is the page itself (200, not a redirect to sign in).
async function keep(request) {
  const response = await fetch(request);
  const url = new URL(request.url);
  if (response.ok && response.type === "basic" && !response.redirected && keepable(url)) {
    const cache = await caches.open(CACHE);
    await cache.put(url.pathname, response.clone());
  }
  return response;
}

// A kept page, marked as served from here: its <body data-served="cache"> shows the note
// saying it is as of the time it was made, offline (layout.html, console.css).
async function fromCache(url) {
  const cache = await caches.open(CACHE);
  const kept = (await cache.match(url.pathname)) || (await cache.match(FORM));
  if (!kept) return Response.error();
  const text = await kept.text();
  return new Response(text.replace(SERVED_ONLINE, SERVED_FROM_CACHE), {
    status: kept.status, statusText: kept.statusText, headers: kept.headers,
  });
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.method === "POST" && url.pathname === "/app/sign-out") {
    event.waitUntil(caches.delete(CACHE));
    return;
  }
  if (request.method !== "GET" || request.mode !== "navigate") return;
  if (!url.pathname.startsWith("/app/centre")) return;
  event.respondWith(keep(request).catch(() => fromCache(url)));
});
