// posd handheld service worker: keeps the app shell (the page, its script,
// style, manifest and icon) so the handheld opens without a network. It
// never touches the API: requests under /v1/ and every non-GET go to the
// network as if there were no worker, so no order, menu or table is ever
// answered from a cache. The shell is fetched from the network first and
// the cache is only the fallback, so an update shows on the next load.
'use strict';

const CACHE = 'posd-pos-shell-v1';
const SHELL = ['/pos', '/pos/assets/pos.js', '/pos/assets/pos.css', '/pos/assets/manifest.json', '/pos/assets/icon.svg'];

self.addEventListener('install', (e) => {
  e.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (e) => {
  e.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

self.addEventListener('fetch', (e) => {
  const req = e.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin || !SHELL.includes(url.pathname) || url.search !== '') return;
  e.respondWith(fetch(req).then((res) => {
    if (res.ok) {
      const copy = res.clone();
      caches.open(CACHE).then((c) => c.put(url.pathname, copy));
    }
    return res;
  }).catch(() => caches.match(url.pathname).then((hit) => hit || Response.error())));
});
