package httpapi

import (
	"bufio"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/kds"
	"github.com/posd/posd/internal/kitchen"
)

// station reads and checks the station query parameter against the venue's
// stations.
func (s *Server) station(c *fiber.Ctx) (string, error) {
	st := c.Query("station")
	if st == "" {
		return "", badRequest("station", "station is required, e.g. ?station=grill")
	}
	stations, err := s.cfg.Store.Stations(c.UserContext(), principal(c).Venue)
	if err != nil {
		return "", err
	}
	if !slices.Contains(stations, st) {
		return "", badRequest("station", fmt.Sprintf("unknown station %q; this venue has %s", st, strings.Join(stations, ", ")))
	}
	return strings.Clone(st), nil
}

func (s *Server) kitchenTickets(c *fiber.Ctx) error {
	st, err := s.station(c)
	if err != nil {
		return err
	}
	tickets, err := s.cfg.Store.OpenTickets(c.UserContext(), principal(c).Venue, st)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"tickets": tickets})
}

func (s *Server) moveTicket(move string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		id, ok := pathUUID(c)
		if !ok {
			return kitchen.ErrNotFound
		}
		p := principal(c)
		t, err := s.cfg.Store.MoveTicket(c.UserContext(), p.Venue, id, move, p.Actor())
		if err != nil {
			return err
		}
		return c.JSON(t)
	}
}

// kitchenStream is the Server-Sent Events stream of one station. The cursor
// comes from Last-Event-ID (what browsers send on reconnect) or ?after=.
func (s *Server) kitchenStream(c *fiber.Ctx) error {
	st, err := s.station(c)
	if err != nil {
		return err
	}
	var after *uint64
	cursor, from := c.Get("Last-Event-ID"), "Last-Event-ID"
	if cursor == "" {
		cursor, from = c.Query("after"), "after"
	}
	if cursor != "" {
		// 63 bits: a stream sequence never gets there, and the cursor + 1
		// the subscription starts at cannot wrap to 0 (the whole history).
		n, err := strconv.ParseUint(strings.TrimSpace(cursor), 10, 63)
		if err != nil {
			return badRequest(from, "the cursor must be the id of a message received earlier")
		}
		after = &n
	}
	p := principal(c)
	venue := p.Venue
	ctx, cancel := s.streamContext()
	sub, err := s.cfg.KDS.Open(ctx, venue, st, after)
	if err != nil {
		cancel()
		return err
	}
	go s.endWhenRevoked(ctx, cancel, p)
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set("X-Accel-Buffering", "no")
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer cancel()
		// Tell browsers to come back quickly after a drop.
		fmt.Fprint(w, "retry: 2000\n\n")
		if err := w.Flush(); err != nil {
			return
		}
		err := sub.Run(ctx, func(ev kds.Event) error {
			switch {
			case ev.Type == "":
				fmt.Fprint(w, ": heartbeat\n\n")
			case ev.Cursor == 0:
				fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.Type, ev.Data)
			default:
				fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", ev.Cursor, ev.Type, ev.Data)
			}
			return w.Flush()
		})
		if err != nil && ctx.Err() == nil {
			s.cfg.Log.Debug().Err(err).Str("venue", venue).Str("station", st).Msg("kitchen stream ended")
		}
	})
	return nil
}

// endWhenRevoked cancels a stream once its device is revoked: the stream was
// authenticated once, when it opened, and may stay open for a whole shift.
// A failed check (Postgres briefly unreachable) keeps the stream; the next
// check decides.
func (s *Server) endWhenRevoked(ctx context.Context, cancel context.CancelFunc, p auth.Principal) {
	t := time.NewTicker(s.cfg.StreamAuthCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		active, err := s.cfg.Auth.Active(ctx, p)
		if err != nil {
			if ctx.Err() == nil {
				s.cfg.Log.Warn().Err(err).Str("venue", p.Venue).Str("device", p.Device).Msg("kitchen stream: device check failed")
			}
			continue
		}
		if !active {
			s.cfg.Log.Info().Str("venue", p.Venue).Str("device", p.Device).Msg("kitchen stream ended: device revoked")
			cancel()
			return
		}
	}
}
