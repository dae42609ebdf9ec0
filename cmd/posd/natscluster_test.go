//go:build ha

package main

// A three-node NATS cluster with JetStream on loopback for the fault tests
// (make test-ha), run from deploy/nats's own files: each node is its own
// nats-server process, built from the nats-server module posd embeds (the
// version pinned in go.mod), so a node can be killed with SIGKILL like a
// machine that dies. Only addresses, paths, certificates and the password
// hash are the test's; TLS on clients and routes, the authorization and
// the JetStream settings are the files'.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/posd/posd/internal/outbox"
	"github.com/posd/posd/internal/pgcluster"
)

type natsCluster struct {
	t     *testing.T
	bin   string
	dir   string
	nodes []*natsNode
	// CA is the PEM file of the CA that signed the nodes' certificates
	// (POSD_NATS_CA); password is posd's.
	CA       string
	password string
}

// natsNode is one nats-server process; its ports and store stay the same
// across a restart.
type natsNode struct {
	name                        string
	port, clusterPort, httpPort int
	conf, logFile               string
	cmd                         *exec.Cmd
	exited                      chan struct{}
}

// startNATSCluster builds nats-server, writes each node's configuration
// from deploy/nats, checks it (nats-server -t), starts the three nodes and
// waits until JetStream has a meta leader.
func startNATSCluster(t *testing.T) *natsCluster {
	t.Helper()
	dir := t.TempDir()
	c := &natsCluster{t: t, bin: filepath.Join(dir, "nats-server"), dir: dir, password: rand.Text()}
	out, err := exec.Command("go", "build", "-o", c.bin, "github.com/nats-io/nats-server/v2").CombinedOutput()
	require.NoError(t, err, "build nats-server: %s", out)
	for i := 1; i <= 3; i++ {
		n := &natsNode{name: fmt.Sprintf("nats-%d", i), conf: filepath.Join(dir, fmt.Sprintf("nats-%d.conf", i)),
			logFile: filepath.Join(dir, fmt.Sprintf("nats-%d.log", i))}
		for _, p := range []*int{&n.port, &n.clusterPort, &n.httpPort} {
			*p, err = pgcluster.FreePort()
			require.NoError(t, err)
		}
		c.nodes = append(c.nodes, n)
	}
	c.writeTLS()
	hash, err := bcrypt.GenerateFromPassword([]byte(c.password), bcrypt.MinCost)
	require.NoError(t, err)
	auth, err := os.ReadFile("../../deploy/nats/auth.conf.example")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "auth.conf"),
		[]byte(replaceEach(t, "auth.conf.example", string(auth), "REPLACE-WITH-BCRYPT-HASH", string(hash))), 0o600))
	for i, n := range c.nodes {
		c.writeConf(i+1, n)
		out, err := exec.Command(c.bin, "-c", n.conf, "-t").CombinedOutput()
		require.NoError(t, err, "nats-server -t %s: %s", n.conf, out)
	}
	for _, n := range c.nodes {
		c.start(n)
	}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			c.kill(n)
		}
		if t.Failed() {
			for _, n := range c.nodes {
				if b, err := os.ReadFile(n.logFile); err == nil {
					t.Logf("%s log (tail):\n%s", n.name, tail(string(b), 3000))
				}
			}
		}
	})
	nc, err := nats.Connect(c.URLs(), c.Options()...)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := js.AccountInfo(ctx)
		cancel()
		if err == nil {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("the NATS cluster has no JetStream leader after 60 s: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// replaceEach replaces old by new in text, requiring old to be there: the
// deploy file and this test must not drift apart.
func replaceEach(t *testing.T, file, text, old, new string) string {
	t.Helper()
	require.Contains(t, text, old, "deploy/nats/%s no longer has %q", file, old)
	return strings.ReplaceAll(text, old, new)
}

// writeConf writes node i's configuration: deploy/nats/nats-i.conf on the
// test's loopback ports, store, certificates and routes.
func (c *natsCluster) writeConf(i int, n *natsNode) {
	file := fmt.Sprintf("nats-%d.conf", i)
	b, err := os.ReadFile("../../deploy/nats/" + file)
	require.NoError(c.t, err)
	conf := string(b)
	for _, r := range [][2]string{
		{"listen: 0.0.0.0:4222", fmt.Sprintf("listen: 127.0.0.1:%d", n.port)},
		{"listen: 0.0.0.0:6222", fmt.Sprintf("listen: 127.0.0.1:%d", n.clusterPort)},
		{"http: 127.0.0.1:8222", fmt.Sprintf("http: 127.0.0.1:%d", n.httpPort)},
		{"/etc/nats/tls/", filepath.Join(c.dir, "tls") + "/"},
		{"store_dir: /var/lib/nats", "store_dir: " + filepath.Join(c.dir, n.name)},
		{"max_file_store: 200G", "max_file_store: 1G"},
	} {
		conf = replaceEach(c.t, file, conf, r[0], r[1])
	}
	for _, o := range c.nodes {
		conf = replaceEach(c.t, file, conf, "nats-route://"+o.name+":6222", fmt.Sprintf("nats-route://127.0.0.1:%d", o.clusterPort))
	}
	require.NoError(c.t, os.WriteFile(n.conf, []byte(conf), 0o600))
}

// writeTLS writes a CA and, for each node, a certificate for 127.0.0.1 and
// its name, good for server and client authentication (routes are mutual
// TLS), as deploy/nats expects them.
func (c *natsCluster) writeTLS() {
	dir := filepath.Join(c.dir, "tls")
	require.NoError(c.t, os.MkdirAll(dir, 0o700))
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(c.t, err)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "posd test NATS CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	require.NoError(c.t, err)
	c.CA = filepath.Join(dir, "ca.pem")
	writePEM(c.t, c.CA, "CERTIFICATE", caDER)
	for i, n := range c.nodes {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(c.t, err)
		cert := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 2)), Subject: pkix.Name{CommonName: n.name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			DNSNames: []string{n.name, "localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
			KeyUsage:    x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
		der, err := x509.CreateCertificate(rand.Reader, cert, ca, &key.PublicKey, caKey)
		require.NoError(c.t, err)
		writePEM(c.t, filepath.Join(dir, n.name+".pem"), "CERTIFICATE", der)
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		require.NoError(c.t, err)
		writePEM(c.t, filepath.Join(dir, n.name+"-key.pem"), "PRIVATE KEY", keyDER)
	}
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
}

// URLs is the cluster's client URLs with posd's user and password,
// comma-separated (NATS_URL).
func (c *natsCluster) URLs() string {
	urls := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		urls[i] = (&url.URL{Scheme: "tls", User: url.UserPassword("posd", c.password), Host: fmt.Sprintf("127.0.0.1:%d", n.port)}).String()
	}
	return strings.Join(urls, ",")
}

// Options are what a client of the cluster needs besides URLs: its CA.
func (c *natsCluster) Options() []nats.Option { return []nats.Option{nats.RootCAs(c.CA)} }

func (c *natsCluster) start(n *natsNode) {
	c.t.Helper()
	n.cmd = exec.Command(c.bin, "-c", n.conf, "--log", n.logFile)
	require.NoError(c.t, n.cmd.Start())
	n.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) {
		_ = cmd.Wait()
		close(exited)
	}(n.cmd, n.exited)
	addr := fmt.Sprintf("127.0.0.1:%d", n.port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return
		}
		select {
		case <-n.exited:
			c.t.Fatalf("nats-server %s exited at start; its log is %s", n.name, n.logFile)
		default:
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("nats-server %s not listening on %s after 30 s: %v", n.name, addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill stops a node with SIGKILL and waits for it to exit.
func (c *natsCluster) kill(n *natsNode) {
	if n.cmd == nil {
		return
	}
	_ = n.cmd.Process.Kill()
	<-n.exited
	n.cmd = nil
}

// node is the node named name.
func (c *natsCluster) node(name string) *natsNode {
	for _, n := range c.nodes {
		if n.name == name {
			return n
		}
	}
	c.t.Fatalf("no NATS node %q", name)
	return nil
}

// streamState is the POS stream's leader and how many of its replicas are
// current, as the cluster reports them.
func streamState(js jetstream.JetStream) (leader string, current int, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, outbox.StreamName)
	if err != nil {
		return "", 0, err
	}
	info := s.CachedInfo()
	if info.Cluster == nil {
		return "", 0, fmt.Errorf("stream %s reports no cluster", outbox.StreamName)
	}
	if info.Cluster.Leader != "" {
		current = 1
	}
	for _, r := range info.Cluster.Replicas {
		if r.Current && !r.Offline {
			current++
		}
	}
	return info.Cluster.Leader, current, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
