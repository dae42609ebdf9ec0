package httpapi

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// DrainBytes and DrainTimeout bound what posd reads and discards of a
// request it answered without reading (a body over MaxBodyBytes, a refused
// connection) before it closes the connection: closing with unread input
// makes the kernel reset the connection, and the client then often sees a
// broken pipe instead of the answer.
const (
	DrainBytes   = 1 << 20
	DrainTimeout = 2 * time.Second
)

// maxRefusing bounds the connections being refused at once (each reads the
// request head for up to DrainTimeout); past it a connection over the caps
// is closed without an answer.
const maxRefusing = 64

// capListener counts connections in total and per client address and
// refuses, with a problem answer, those over Config.MaxConns and
// Config.MaxConnsPerIP.
type capListener struct {
	net.Listener
	s        *Server
	mu       sync.Mutex
	total    int
	perIP    map[string]int
	refusing chan struct{}
}

func newCapListener(ln net.Listener, s *Server) *capListener {
	return &capListener{Listener: ln, s: s, perIP: map[string]int{}, refusing: make(chan struct{}, maxRefusing)}
}

func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := c.RemoteAddr().String()
		if host, _, err := net.SplitHostPort(ip); err == nil {
			ip = host
		}
		l.mu.Lock()
		switch {
		case l.total >= l.s.cfg.MaxConns:
			l.mu.Unlock()
			l.refuse(c, Problem{Type: ProblemBase + "too-many-connections", Title: http.StatusText(http.StatusServiceUnavailable),
				Status: http.StatusServiceUnavailable, Detail: fmt.Sprintf("posd serves at most %d connections at once; retry shortly", l.s.cfg.MaxConns)})
		case l.perIP[ip] >= l.s.cfg.MaxConnsPerIP:
			l.mu.Unlock()
			l.refuse(c, Problem{Type: ProblemBase + "too-many-connections", Title: http.StatusText(http.StatusTooManyRequests),
				Status: http.StatusTooManyRequests, Detail: fmt.Sprintf("at most %d connections from one address; reuse the ones you have", l.s.cfg.MaxConnsPerIP)})
		default:
			l.total++
			l.perIP[ip]++
			l.mu.Unlock()
			return &capConn{Conn: c, l: l, ip: ip}, nil
		}
	}
}

func (l *capListener) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.perIP[ip]--; l.perIP[ip] <= 0 {
		delete(l.perIP, ip)
	}
}

// refuse answers p on c and closes it, after reading the request head so the
// client gets the answer (at most maxRefusing at once).
func (l *capListener) refuse(c net.Conn, p Problem) {
	select {
	case l.refusing <- struct{}{}:
	default:
		_ = c.Close()
		return
	}
	l.s.cfg.Metrics.ConnsRefused.WithLabelValues(strconv.Itoa(p.Status)).Inc()
	go func() {
		defer func() { <-l.refusing }()
		_ = c.SetDeadline(time.Now().Add(DrainTimeout))
		br := bufio.NewReaderSize(io.LimitReader(c, 16<<10), 4096)
		var head bytes.Buffer
		for head.Len() < 16<<10 {
			line, err := br.ReadSlice('\n')
			head.Write(line)
			if err != nil || len(bytes.TrimRight(line, "\r\n")) == 0 {
				break
			}
		}
		p.RequestID = newRequestID()
		body, _ := json.Marshal(p)
		fmt.Fprintf(c, "HTTP/1.1 %d %s\r\nContent-Type: application/problem+json\r\nContent-Length: %d\r\nRetry-After: %d\r\n"+
			"X-Request-Id: %s\r\nConnection: close\r\n\r\n%s", p.Status, http.StatusText(p.Status), len(body),
			int(RetryAfter/time.Second), p.RequestID, body)
		drainClose(c)
	}()
}

// drainClose ends the write side, reads and discards what the client still
// sends (within DrainBytes and DrainTimeout), then closes c.
func drainClose(c net.Conn) error {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = c.SetReadDeadline(time.Now().Add(DrainTimeout))
	_, _ = io.CopyN(io.Discard, c, DrainBytes)
	return c.Close()
}

// capConn is one counted connection.
type capConn struct {
	net.Conn
	l     *capListener
	ip    string
	once  sync.Once
	drain bool
}

// drainOnClose makes Close read what the client is still sending first.
func (c *capConn) drainOnClose() { c.drain = true }

func (c *capConn) Close() error {
	err := net.ErrClosed
	c.once.Do(func() {
		if c.drain {
			err = drainClose(c.Conn)
		} else {
			err = c.Conn.Close()
		}
		c.l.release(c.ip)
	})
	return err
}
