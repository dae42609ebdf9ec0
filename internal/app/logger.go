package app

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
)

// NewLogger returns the process logger for c: JSON lines, or readable
// console output (coloured only on a terminal without NO_COLOR).
func NewLogger(out io.Writer, c LogConfig) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(c.Level)
	if err != nil || c.Level == "" {
		return zerolog.Logger{}, fmt.Errorf("--log-level must be one of trace, debug, info, warn, error; got %q", c.Level)
	}
	zerolog.TimeFieldFormat = time.RFC3339Nano
	switch c.Format {
	case "json":
	case "console":
		out = zerolog.ConsoleWriter{Out: out, TimeFormat: "15:04:05.000", NoColor: !colorTerminal(out)}
	default:
		return zerolog.Logger{}, fmt.Errorf("--log-format must be json or console; got %q", c.Format)
	}
	return zerolog.New(out).Level(lvl).With().Timestamp().Logger(), nil
}

// colorTerminal reports whether console logs to out may carry ANSI colours:
// only on a terminal, and not when NO_COLOR is set (no-color.org).
func colorTerminal(out io.Writer) bool {
	if os.Getenv("NO_COLOR") != "" {
		return false
	}
	f, ok := out.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}
