package app

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/posd/posd/internal/audit"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
)

func TestDefaultsNeedOnlyTheDatabaseAndTheKey(t *testing.T) {
	err := Defaults().Validate()
	var fields []string
	for _, e := range err.(ValidationError) {
		var fe *FieldError
		require.True(t, errors.As(e, &fe))
		fields = append(fields, fe.Field)
	}
	require.Equal(t, []string{"database-url", "seal-key-file"}, fields)
	c := Defaults()
	c.DatabaseURL, c.SealKeyFile = "postgres://posd@db/posd", "/etc/posd/seal.key"
	require.NoError(t, c.Validate())
}

func TestValidateNamesEveryBadField(t *testing.T) {
	c := Defaults()
	c.DatabaseURL, c.SealKeyFile = "postgres://posd@db/posd", "k"
	c.StreamReplicas, c.Heartbeat, c.StreamLimits.OpensPerDevice, c.Log.Format = 6, 0, 0, "xml"
	err := c.Validate()
	require.EqualError(t, err, `--stream-replicas must be between 1 and 5, got 6; --log-format must be json or console; got "xml"; `+
		`--heartbeat must be positive, got 0s; --stream-opens-per-device must be at least 1, got 0`)
}

// TestLoggedConfigMasksSecrets: the start-up line carries every setting
// but neither the database password nor the seal key's private half.
func TestLoggedConfigMasksSecrets(t *testing.T) {
	key, err := audit.NewSealKey()
	require.NoError(t, err)
	c := Defaults()
	c.DatabaseURL, c.SealKey = "postgres://posd:hunter2@db/posd", key
	c.NATSURL = "nats://u:natspw@nats:4222"
	var buf bytes.Buffer
	log := zerolog.New(&buf)
	log.Info().EmbedObject(c).Msg("starting posd")
	line := buf.String()
	require.NotContains(t, line, "hunter2")
	require.NotContains(t, line, "natspw")
	require.NotContains(t, line, hex.EncodeToString(key.Seed()))
	require.Contains(t, line, `"seal_public_key":"`+audit.PublicKeyHex(key)+`"`)
	require.Contains(t, line, `"sweep_interval":"10m0s"`)
	require.Contains(t, line, `"heartbeat":"15s"`)
}

// TestTLSNeedsBothFiles: --tls-cert without --tls-key (or the reverse) is
// refused naming the missing one; both or neither pass.
func TestTLSNeedsBothFiles(t *testing.T) {
	c := Defaults()
	c.DatabaseURL, c.SealKeyFile = "postgres://posd@db/posd", "k"
	c.TLSCert = "cert.pem"
	require.EqualError(t, c.Validate(), "--tls-key (POSD_TLS_KEY) is required with --tls-cert: give both to serve HTTPS, or neither")
	require.Error(t, c.CheckTLS())
	c.TLSCert, c.TLSKey = "", "key.pem"
	require.EqualError(t, c.Validate(), "--tls-cert (POSD_TLS_CERT) is required with --tls-key: give both to serve HTTPS, or neither")
	c.TLSCert = "cert.pem"
	require.NoError(t, c.Validate())
	require.NoError(t, c.CheckTLS())
}

// TestPprofOnlyOnLoopback: the runtime profiles are never served on an
// address another machine can reach.
func TestPprofOnlyOnLoopback(t *testing.T) {
	for addr, ok := range map[string]bool{
		"": true, "127.0.0.1:6060": true, "[::1]:6060": true, "localhost:6060": true, "127.0.0.1:0": true,
		"0.0.0.0:6060": false, ":6060": false, "10.0.0.5:6060": false, "example.com:6060": false, "127.0.0.1": false,
	} {
		err := CheckPprofAddr(addr)
		if ok != (err == nil) {
			t.Errorf("%q: %v", addr, err)
		}
		c := Defaults()
		c.DatabaseURL, c.PprofAddr = "postgres://x@y/z", addr
		if verr := c.Validate(); !ok && (verr == nil || !strings.Contains(verr.Error(), "pprof-addr")) {
			t.Errorf("%q: Validate says %v", addr, verr)
		}
	}
}
