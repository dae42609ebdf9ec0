package app

import (
	"net/url"
	"strings"
)

// RedactURL hides the password of a connection URL for logging.
func RedactURL(raw string) string {
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

// RedactDSN hides the password of a Postgres connection string in either of
// libpq's forms: a URL (postgres://user:pw@host/db?password=…) or key=value
// pairs (host=db password='s3 cret'). Anything that is neither is not shown.
func RedactDSN(raw string) string {
	if strings.HasPrefix(raw, "postgres://") || strings.HasPrefix(raw, "postgresql://") {
		return RedactURL(raw)
	}
	pairs, ok := splitKeyValueDSN(raw)
	if !ok {
		return "(unparseable connection string)"
	}
	var b strings.Builder
	for i, kv := range pairs {
		if i > 0 {
			b.WriteByte(' ')
		}
		v := kv[1]
		if strings.Contains(strings.ToLower(kv[0]), "password") {
			v = "xxxxx"
		}
		b.WriteString(kv[0] + "=" + quoteDSNValue(v))
	}
	return b.String()
}

// splitKeyValueDSN parses libpq's key=value form: keys, optional spaces
// around "=", values bare (up to the next space) or single-quoted with
// backslash escapes.
func splitKeyValueDSN(s string) ([][2]string, bool) {
	var out [][2]string
	for {
		s = strings.TrimLeft(s, " \t\n\r")
		if s == "" {
			return out, true
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return nil, false
		}
		key := strings.TrimRight(s[:eq], " \t\n\r")
		if key == "" || strings.ContainsAny(key, " \t\n\r'") {
			return nil, false
		}
		s = strings.TrimLeft(s[eq+1:], " \t\n\r")
		var val strings.Builder
		if strings.HasPrefix(s, "'") {
			s = s[1:]
			closed := false
			for len(s) > 0 {
				c := s[0]
				s = s[1:]
				if c == '\\' && len(s) > 0 {
					val.WriteByte(s[0])
					s = s[1:]
					continue
				}
				if c == '\'' {
					closed = true
					break
				}
				val.WriteByte(c)
			}
			if !closed {
				return nil, false
			}
		} else {
			end := strings.IndexAny(s, " \t\n\r")
			if end < 0 {
				end = len(s)
			}
			val.WriteString(s[:end])
			s = s[end:]
		}
		out = append(out, [2]string{key, val.String()})
	}
}

func quoteDSNValue(v string) string {
	if v != "" && !strings.ContainsAny(v, " \t\n\r'\\") {
		return v
	}
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}
