package main_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/client"
	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/store"
	"github.com/syndicate-media/syndicate/internal/store/storetest"
	"github.com/syndicate-media/syndicate/internal/transport/sftp/sftpd"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "syndicate-bin-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "syndicate")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const token = "crash-test-token-0123456789"

// cli runs a client command against url and returns its stdout.
func cli(t *testing.T, url string, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "SYNDICATE_URL="+url, "SYNDICATE_TOKEN="+token)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("syndicate %v: %v\n%s", args, err, errb.String())
	}
	return out.String()
}

// notifyCreate runs `syndicate notify` with args for one partner and
// returns the id of the delivery it created.
func notifyCreate(t *testing.T, url string, args ...string) string {
	t.Helper()
	out := cli(t, url, append([]string{"notify"}, args...)...)
	lines := strings.Split(out, "\n")
	if len(lines) < 2 {
		t.Fatalf("notify output: %q", out)
	}
	fields := strings.Fields(lines[1])
	if len(fields) < 3 || fields[1] != "create" {
		t.Fatalf("notify output: %q", out)
	}
	return fields[2]
}

// cliFails runs a client command that must fail and returns its stderr.
func cliFails(t *testing.T, url string, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "SYNDICATE_URL="+url, "SYNDICATE_TOKEN="+token)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Run(); err == nil {
		t.Fatalf("syndicate %v succeeded, want a failure", args)
	}
	return errb.String()
}

type proc struct {
	cmd *exec.Cmd
	url string
	log *syncBuffer
}

// syncBuffer collects a child's output; the test may read it while the
// child still writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func serve(t *testing.T, dataDir, database string) proc {
	t.Helper()
	return serveWith(t, dataDir, database)
}

// serveWith starts `syndicate serve` with extra flags.
func serveWith(t *testing.T, dataDir, database string, extra ...string) proc {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	args := []string{"serve", "--addr", addr, "--data-dir", dataDir, "--token", token}
	if database != "" {
		args = append(args, "--database", database)
	}
	args = append(args, extra...)
	p := proc{cmd: exec.Command(binary, args...), url: "http://" + addr, log: &syncBuffer{}}
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.cmd.Process.Kill(); _ = p.cmd.Wait() })
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(p.url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
	}
	t.Fatalf("server did not become ready:\n%s", p.log.String())
	return p
}

// TestSIGKILLMidDelivery kills the server with SIGKILL while a delivery is
// transferring, restarts it on the same database, and checks the delivery
// completes exactly once: one delivery, delivered, the partner folder holds
// exactly the manifest's files with matching sha256 and nothing else.
func TestSIGKILLMidDelivery(t *testing.T) {
	for name, cfg := range storetest.Dialects(t) {
		t.Run(name, func(t *testing.T) { interruptAndRestart(t, cfg, syscall.SIGKILL, localDest(t)) })
	}
}

// TestSIGTERMMidDelivery is the graceful stop: the delivery must not be
// marked failed or cancelled, and must finish after the restart.
func TestSIGTERMMidDelivery(t *testing.T) {
	interruptAndRestart(t, storetest.SQLite(t), syscall.SIGTERM, localDest(t))
}

// TestSIGKILLMidStripedSFTP kills the server while a 96 MiB file goes to
// an SFTP server over four connections: the restarted transfer resumes
// from what the server holds, and the file's sha256 matches.
func TestSIGKILLMidStripedSFTP(t *testing.T) {
	root := t.TempDir()
	signer, pemKey, err := sftpd.GenerateClientKey()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sftpd.Start(sftpd.Config{Root: root, User: "slow", AuthorizedKey: signer.PublicKey()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	key := filepath.Join(t.TempDir(), "key")
	os.WriteFile(key, pemKey, 0o600)
	interruptAndRestart(t, storetest.SQLite(t), syscall.SIGKILL, interruptDest{
		yaml: fmt.Sprintf("url: sftp://slow@%s/\n  credentials: file:%s\n  host_key: %s\n  streams: 4\n  max_bytes_per_second: 20000000",
			srv.Addr(), key, srv.HostKeyFingerprint()),
		folder: root, size: 96 << 20, killAfter: 30 << 20, serve: []string{"--allow-private-destinations"},
	})
}

// interruptDest is where interruptAndRestart delivers: the profile's
// destination lines, the folder the partner's files land in, the media
// size, and how many bytes must have gone before the signal.
type interruptDest struct {
	yaml      string
	folder    string
	size      int
	killAfter int64
	serve     []string
}

func localDest(t *testing.T) interruptDest {
	dest := filepath.Join(t.TempDir(), "partner")
	return interruptDest{yaml: "url: file://" + dest + "\n  max_bytes_per_second: 1048576", folder: dest, size: 6 << 20, killAfter: 1 << 20}
}

func interruptAndRestart(t *testing.T, cfg store.Config, sig syscall.Signal, to interruptDest) {
	work := t.TempDir()
	dest := to.folder
	media := filepath.Join(work, "main.mxf")
	data := make([]byte, to.size)
	rand.Read(data)
	os.WriteFile(media, data, 0o644)
	profile := filepath.Join(work, "partner.yaml")
	os.WriteFile(profile, []byte(fmt.Sprintf(`id: slowtv
name: Slow TV
format: json
destination:
  %s
`, to.yaml)), 0o644)
	catalog := filepath.Join(work, "catalog.json")
	os.WriteFile(catalog, []byte(fmt.Sprintf(`[{"id":"ep-1","type":"episode","title":"Pilot","media":[{"role":"main","uri":"file://%s"}]}]`, media)), 0o644)

	p := serveWith(t, cfg.DataDir, cfg.DatabaseURL, to.serve...)
	cli(t, p.url, "partners", "apply", "-f", profile)
	cli(t, p.url, "assets", "import", catalog)
	id := notifyCreate(t, p.url, "--key", "crash-1", "--partners", "slowtv", "ep-1")
	c := client.New(p.url, token)
	ctx := context.Background()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		d, err := c.Delivery(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if d.Status == domain.StatusTransferring && d.Bytes > to.killAfter {
			break
		}
		if d.Status.Terminal() || time.Now().After(deadline) {
			t.Fatalf("never caught the delivery mid-transfer: %+v", d)
		}
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()
	if _, err := os.Stat(filepath.Join(dest, "ep-1", "manifest.json")); err == nil {
		t.Fatal("manifest present before the restart: the kill came too late to test anything")
	}

	p2 := serveWith(t, cfg.DataDir, cfg.DatabaseURL, to.serve...)
	c2 := client.New(p2.url, token)
	var d domain.Delivery
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var err error
		if d, err = c2.Delivery(ctx, id); err != nil {
			t.Fatal(err)
		}
		if d.Status.Terminal() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not finished after restart: %+v\n%s", d, p2.log.String())
		}
	}
	if d.Status != domain.StatusDelivered || d.Attempts != 2 {
		t.Fatalf("after restart: %+v (want delivered on the 2nd attempt)", d)
	}
	// The second attempt continued the interrupted file instead of starting over.
	if !strings.Contains(p2.log.String(), `"msg":"resuming upload"`) {
		t.Fatalf("the restarted transfer did not resume:\n%s", p2.log.String())
	}
	list, err := c2.Deliveries(ctx, nil)
	if err != nil || len(list) != 1 {
		t.Fatalf("deliveries = %d, %v; want exactly 1", len(list), err)
	}
	// The notification replayed after the crash names the same delivery.
	if out := cli(t, p2.url, "notify", "--key", "crash-1", "--partners", "slowtv", "ep-1"); !strings.Contains(out, id) {
		t.Fatalf("replay after restart: %q", out)
	}
	checkExactly(t, filepath.Join(dest, "ep-1"), id)
}

// checkExactly verifies the package folder holds exactly the manifest's
// files plus the manifest, each matching its sha256.
func checkExactly(t *testing.T, dir, deliveryID string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m domain.Manifest
	if err := json.Unmarshal(b, &m); err != nil || m.DeliveryID != deliveryID {
		t.Fatalf("manifest %v for %s: %v", m, deliveryID, err)
	}
	want := map[string]bool{"manifest.json": true}
	for _, f := range m.Files {
		want[f.Name] = true
		data, err := os.ReadFile(filepath.Join(dir, f.Name))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if hex.EncodeToString(sum[:]) != f.SHA256 {
			t.Fatalf("%s: sha256 differs from the manifest", f.Name)
		}
	}
	filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			if !want[filepath.ToSlash(rel)] {
				t.Errorf("unexpected file at the partner: %s", rel)
			}
		}
		return nil
	})
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"serve", "-h"}, {"demo", "-h"}, {"notify", "-h"}} {
		out, err := exec.Command(binary, args...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Usage") {
			t.Errorf("syndicate %v: %v\n%s", args, err, out)
		}
	}
	out, err := exec.Command(binary, "frobnicate").CombinedOutput()
	if code := exitCode(err); code != 2 || !strings.Contains(string(out), "unknown command") {
		t.Errorf("unknown command: exit %d\n%s", code, out)
	}
}

func exitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
