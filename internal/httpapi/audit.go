package httpapi

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/posd/posd/internal/audit"
	"github.com/posd/posd/internal/store"
)

// HeaderReadFrom says on an audit answer read off the primary where it was
// read (audit.ReadFrom.Header).
const HeaderReadFrom = "Posd-Read-From"

// journal is the store the audit routes read: the standby's when posd has
// one (Config.AuditStore).
func (s *Server) journal() *store.Store {
	if s.cfg.AuditStore != nil {
		return s.cfg.AuditStore
	}
	return s.cfg.Store
}

// errStandbyUnavailable is a standby (Config.AuditStore) that did not
// answer an audit read, or cancelled it: 503 standby-unavailable.
var errStandbyUnavailable = errors.New("the standby did not answer")

// readFrom sets Posd-Read-From when the answer was read off the primary;
// the standby not answering is errStandbyUnavailable, whose answer names
// the replica URL.
func (s *Server) readFrom(c *fiber.Ctx, from *audit.ReadFrom, err error) error {
	if err != nil {
		if s.cfg.AuditStore != nil && store.Unavailable(err) {
			return fmt.Errorf("%w: %w", errStandbyUnavailable, err)
		}
		return err
	}
	if from != nil {
		c.Set(HeaderReadFrom, from.Header())
	}
	return nil
}

func (s *Server) auditVerify(c *fiber.Ctx) error {
	r, err := s.journal().Verify(c.UserContext(), principal(c).Venue, s.cfg.Audit)
	if err := s.readFrom(c, r.ReadFrom, err); err != nil {
		return err
	}
	return c.JSON(r)
}

func (s *Server) auditShift(c *fiber.Ctx) error {
	csvWanted, err := shiftFormat(c)
	if err != nil {
		return err
	}
	from, err := queryTime(c, "from")
	if err != nil {
		return err
	}
	to, err := queryTime(c, "to")
	if err != nil {
		return err
	}
	if err := audit.CheckRange(from, to); err != nil {
		return badRequest("to", err.Error())
	}
	r, err := s.journal().Shift(c.UserContext(), principal(c).Venue, from, to)
	if errors.Is(err, audit.ErrRange) {
		return badRequest("to", err.Error())
	}
	if err := s.readFrom(c, r.ReadFrom, err); err != nil {
		return err
	}
	if csvWanted {
		var b bytes.Buffer
		if err := audit.WriteCSV(&b, r); err != nil {
			return err
		}
		c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
		c.Set(fiber.HeaderContentDisposition, `attachment; filename="shift.csv"`)
		return c.Send(b.Bytes())
	}
	return c.JSON(r)
}

// shiftFormat reads ?format= (json or csv); without it, an Accept that
// names text/csv (and not JSON) asks for CSV.
func shiftFormat(c *fiber.Ctx) (csv bool, err error) {
	switch f := c.Query("format"); f {
	case "csv":
		return true, nil
	case "json":
		return false, nil
	case "":
		accept := strings.ToLower(c.Get(fiber.HeaderAccept))
		return strings.Contains(accept, "text/csv") && !strings.Contains(accept, "json"), nil
	default:
		return false, badRequest("format", "format must be json or csv")
	}
}

// queryTime reads a required RFC 3339 time from the query string.
func queryTime(c *fiber.Ctx, name string) (time.Time, error) {
	v := c.Query(name)
	if v == "" {
		return time.Time{}, badRequest(name, name+" is required (RFC 3339, e.g. 2026-11-22T17:00:00Z)")
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		// An unescaped "+01:00" arrives as " 01:00".
		t, err = time.Parse(time.RFC3339Nano, strings.Replace(v, " ", "+", 1))
	}
	if err != nil {
		return time.Time{}, badRequest(name, name+" must be an RFC 3339 time such as 2026-11-22T17:00:00Z")
	}
	if err := audit.CheckTime(name, t); err != nil {
		return time.Time{}, badRequest(name, err.Error())
	}
	return t, nil
}
