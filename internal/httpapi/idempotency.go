package httpapi

import (
	"crypto/sha256"
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/store"
)

// headerIdempotencyKey and headerReplayed follow the IETF httpapi
// Idempotency-Key draft.
const (
	headerIdempotencyKey = "Idempotency-Key"
	headerReplayed       = "Idempotent-Replayed"
	maxIdempotencyKeyLen = 255
)

// errKeyReused is an Idempotency-Key sent again with a different request.
var errKeyReused = errors.New("this Idempotency-Key was used for a different request")

// idempotency reads the request's Idempotency-Key. With no key it returns
// nil. With a key that already has an answer it writes the stored answer
// (replayed == true), or refuses a different request under the same key.
// Otherwise it returns the Idem to pass to the store, which stores the
// answer with the change.
func (s *Server) idempotency(c *fiber.Ctx, answer func(order.Order) (store.Answer, error)) (idem *store.Idem, replayed bool, err error) {
	key := c.Get(headerIdempotencyKey)
	if key == "" {
		return nil, false, nil
	}
	if len(key) > maxIdempotencyKeyLen || !printableASCII(key) {
		return nil, false, badRequest(headerIdempotencyKey, "Idempotency-Key must be 1 to 255 printable ASCII characters")
	}
	p := principal(c)
	h := sha256.New()
	h.Write([]byte(c.Method()))
	h.Write([]byte{0})
	h.Write([]byte(c.Path()))
	h.Write([]byte{0})
	// The precondition is part of the request: the same ops against
	// another version are another write.
	h.Write([]byte(strings.TrimSpace(c.Get(fiber.HeaderIfMatch))))
	h.Write([]byte{0})
	h.Write(c.Body())
	idem = &store.Idem{Venue: p.Venue, DeviceID: p.DeviceID, Key: key, Fingerprint: h.Sum(nil), Answer: answer}
	replayed, err = s.replay(c, idem)
	return idem, replayed, err
}

// replay answers from the key's stored answer, if there is one.
func (s *Server) replay(c *fiber.Ctx, idem *store.Idem) (bool, error) {
	st, found, err := s.cfg.Store.Answered(c.UserContext(), idem.Venue, idem.DeviceID, idem.Key)
	if err != nil || !found {
		return false, err
	}
	if string(st.Fingerprint) != string(idem.Fingerprint) {
		return false, errKeyReused
	}
	for k, v := range st.Headers {
		c.Set(k, v)
	}
	c.Set(headerReplayed, "true")
	c.Status(st.Status)
	return true, c.Send(st.Body)
}

// keyed finishes a keyed write that the store refused because the key was
// answered meanwhile (replay it) or is in flight (the error stands).
func (s *Server) keyed(c *fiber.Ctx, idem *store.Idem, err error) error {
	if idem != nil && errors.Is(err, store.ErrAnswered) {
		if ok, rerr := s.replay(c, idem); ok || rerr != nil {
			return rerr
		}
	}
	return err
}

// saveAnswer stores the answer to a keyed request that changed nothing: a
// no-op PATCH (the 200 just written) or a refused stale write (its problem).
func (s *Server) saveAnswer(c *fiber.Ctx, idem *store.Idem) {
	if idem == nil {
		return
	}
	a := store.Answer{Status: c.Response().StatusCode(), Body: append([]byte(nil), c.Response().Body()...),
		Headers: map[string]string{}}
	for _, h := range []string{fiber.HeaderContentType, fiber.HeaderETag, fiber.HeaderLocation} {
		if v := c.GetRespHeader(h); v != "" {
			a.Headers[h] = v
		}
	}
	if err := s.cfg.Store.SaveAnswer(c.UserContext(), idem, a); err != nil {
		s.cfg.Log.Error().Err(err).Msg("store idempotent answer")
	}
}

// orderAnswer renders a changed order the way the handler answers it.
func (s *Server) orderAnswer(status int, location bool) func(order.Order) (store.Answer, error) {
	return func(o order.Order) (store.Answer, error) {
		body, err := s.app.Config().JSONEncoder(o)
		if err != nil {
			return store.Answer{}, err
		}
		h := map[string]string{fiber.HeaderContentType: fiber.MIMEApplicationJSON, fiber.HeaderETag: etag(o.Version)}
		if location {
			h[fiber.HeaderLocation] = "/v1/orders/" + o.ID.String()
		}
		return store.Answer{Status: status, Headers: h, Body: body}, nil
	}
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
