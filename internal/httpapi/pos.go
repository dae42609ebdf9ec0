package httpapi

import (
	"github.com/gofiber/fiber/v2"

	"github.com/posd/posd/internal/pos"
)

// posScope is where the handheld lives: the page, its worker and its
// assets. The worker's own path (/pos/sw.js) would give it the scope
// /pos/ only, which does not hold the page /pos itself.
const posScope = "/pos"

// posHeaders puts the handheld's Content-Security-Policy and its no-sniff,
// no-frame and no-referrer headers on every handheld file.
func posHeaders(c *fiber.Ctx) error {
	c.Set("Content-Security-Policy", pos.CSP)
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderXFrameOptions, "DENY")
	c.Set(fiber.HeaderReferrerPolicy, "no-referrer")
	return c.Next()
}

// posPage serves the waiter's handheld. It takes no query: the token is
// typed once and kept on the device.
var posPage = embeddedFile(pos.Web, "web/pos.html", fiber.MIMETextHTMLCharsetUTF8)

// posWorker serves the handheld's service worker, allowed the scope /pos.
func posWorker(c *fiber.Ctx) error {
	c.Set("Service-Worker-Allowed", posScope)
	return serveWorker(c)
}

var serveWorker = embeddedFile(pos.Web, "web/sw.js", "text/javascript; charset=utf-8")
