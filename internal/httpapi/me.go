package httpapi

import "github.com/gofiber/fiber/v2"

// me answers who the token is: GET /v1/me, so a device knows its venue,
// its staff member and whether it may do a manager's ops.
func (s *Server) me(c *fiber.Ctx) error {
	p := principal(c)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(fiber.Map{"venue": p.Venue, "device": p.Device, "staff": p.Staff, "role": p.Role})
}
