//go:build ha

package main

// A three-node NATS cluster with JetStream on loopback for the fault tests
// (make test-ha): each node is its own nats-server process, built from the
// nats-server module posd embeds (the version pinned in go.mod), so a
// node can be killed with SIGKILL like a machine that dies.

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/outbox"
	"github.com/posd/posd/internal/pgcluster"
)

type natsCluster struct {
	t     *testing.T
	bin   string
	nodes []*natsNode
}

// natsNode is one nats-server process; its ports and store stay the same
// across a restart.
type natsNode struct {
	name              string
	port, clusterPort int
	storeDir, logFile string
	cmd               *exec.Cmd
	exited            chan struct{}
}

// startNATSCluster builds nats-server and starts three nodes routed to each
// other, each with JetStream, and waits until JetStream has a meta leader.
func startNATSCluster(t *testing.T) *natsCluster {
	t.Helper()
	dir := t.TempDir()
	c := &natsCluster{t: t, bin: filepath.Join(dir, "nats-server")}
	out, err := exec.Command("go", "build", "-o", c.bin, "github.com/nats-io/nats-server/v2").CombinedOutput()
	require.NoError(t, err, "build nats-server: %s", out)
	for i := 1; i <= 3; i++ {
		port, err := pgcluster.FreePort()
		require.NoError(t, err)
		cport, err := pgcluster.FreePort()
		require.NoError(t, err)
		n := &natsNode{name: fmt.Sprintf("nats%d", i), port: port, clusterPort: cport,
			storeDir: filepath.Join(dir, fmt.Sprintf("nats%d", i)), logFile: filepath.Join(dir, fmt.Sprintf("nats%d.log", i))}
		c.nodes = append(c.nodes, n)
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
	nc, err := nats.Connect(c.URLs())
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

// URLs is the cluster's client URLs, comma-separated (NATS_URL).
func (c *natsCluster) URLs() string {
	urls := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		urls[i] = fmt.Sprintf("nats://127.0.0.1:%d", n.port)
	}
	return strings.Join(urls, ",")
}

func (c *natsCluster) start(n *natsNode) {
	c.t.Helper()
	var routes []string
	for _, o := range c.nodes {
		if o != n {
			routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", o.clusterPort))
		}
	}
	n.cmd = exec.Command(c.bin, "--server_name", n.name, "-a", "127.0.0.1", "-p", strconv.Itoa(n.port),
		"--jetstream", "--store_dir", n.storeDir, "--cluster_name", "posd-ha",
		"--cluster", fmt.Sprintf("nats://127.0.0.1:%d", n.clusterPort), "--routes", strings.Join(routes, ","),
		"--log", n.logFile)
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
