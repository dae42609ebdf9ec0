package main

import (
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// envString returns the environment variable name, or def when it is unset.
func envString(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

// envInt is envString for integers; a malformed value is reported by the flag
// parser's validation afterwards, so it falls back to def here.
func envInt(name string, def int) int {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
	}
	return def
}

// newFlagSet returns a flag set that prints help to out and returns errors
// instead of exiting.
func newFlagSet(name, summary string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: posd %s [flags]\n\n%s\n\nFlags (each also read from the environment variable shown):\n", name, summary)
		fs.PrintDefaults()
	}
	return fs
}

func validPort(name string, p int) error {
	if p < 1 || p > 65535 {
		return fmt.Errorf("%s must be a TCP port between 1 and 65535, got %d", name, p)
	}
	return nil
}

// newLogger returns the process logger: JSON lines by default, readable
// console output with format "console".
func newLogger(out io.Writer, format, level string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		return zerolog.Logger{}, fmt.Errorf("--log-level must be one of trace, debug, info, warn, error; got %q", level)
	}
	zerolog.TimeFieldFormat = time.RFC3339Nano
	switch format {
	case "json":
	case "console":
		out = zerolog.ConsoleWriter{Out: out, TimeFormat: "15:04:05.000"}
	default:
		return zerolog.Logger{}, fmt.Errorf("--log-format must be json or console; got %q", format)
	}
	return zerolog.New(out).Level(lvl).With().Timestamp().Logger(), nil
}

// redactURL hides the password of a connection URL for logging.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	q := u.Query()
	for k := range q {
		if strings.Contains(strings.ToLower(k), "password") {
			q.Set(k, "xxxxx")
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}
