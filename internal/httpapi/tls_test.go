package httpapi_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
	"github.com/posd/posd/internal/seed"
)

// selfSigned writes a certificate for 127.0.0.1 and its key as PEM files
// under dir and returns their paths and a pool that trusts it.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "posd test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600))
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestServeHTTPS proves --tls-cert and --tls-key: posd serves HTTPS on its
// listener (a certificate made at test time), /healthz and the venue stream
// answer over it, and plain HTTP is not served there.
func TestServeHTTPS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t, t.TempDir())
	f := start(t, apitest.Options{TLSCert: certFile, TLSKey: keyFile})
	require.True(t, strings.HasPrefix(f.BaseURL, "https://"), f.BaseURL)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}

	resp, err := client.Get(f.BaseURL + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.NotNil(t, resp.TLS, "answered over TLS")

	req, err := http.NewRequestWithContext(t.Context(), "GET", f.BaseURL+"/v1/stream?access_token="+seed.TokenWaiter1, nil)
	require.NoError(t, err)
	resp, err = client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	br := bufio.NewReader(resp.Body)
	var lines []string
	for len(lines) < 4 {
		line, err := br.ReadString('\n')
		require.NoError(t, err)
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "retry:") {
			lines = append(lines, line)
		}
		if strings.HasPrefix(line, "data:") {
			break
		}
	}
	require.Equal(t, "event: ready", lines[1], "%q", lines)

	// Plain HTTP on the TLS listener gets no answer of posd's.
	plain := &http.Client{Timeout: 5 * time.Second}
	if r, err := plain.Get("http://" + strings.TrimPrefix(f.BaseURL, "https://") + "/healthz"); err == nil {
		r.Body.Close()
		require.NotEqual(t, 200, r.StatusCode)
	}
}
