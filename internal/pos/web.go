// Package pos holds the waiter's handheld: a web app posd serves at /pos
// from the files embedded here (web/pos.html, the service worker web/sw.js
// and the files it loads from /pos/assets/). It has no Go logic; the app
// speaks to posd only through the public /v1 API.
package pos

import "embed"

// Web holds the handheld's files.
//
//go:embed web
var Web embed.FS

// CSP is the Content-Security-Policy of every handheld file: scripts,
// styles, the manifest and the worker only from posd itself, no inline
// script or style, no frames, requests only to posd.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; manifest-src 'self'; worker-src 'self'; base-uri 'none'; " +
	"form-action 'none'; frame-ancestors 'none'"
