package sftp_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pkgsftp "github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/syndicate-media/syndicate/internal/transport"
	_ "github.com/syndicate-media/syndicate/internal/transport/sftp" // registers sftp://
	"github.com/syndicate-media/syndicate/internal/transport/sftp/sftpd"
	"github.com/syndicate-media/syndicate/internal/transport/transporttest"
)

const user = "partner"

// server starts an in-process server on a fresh root that accepts a fresh
// client key and the password "s3cret"; it returns the key's PEM too.
func server(t *testing.T) (*sftpd.Server, []byte, string) {
	t.Helper()
	signer, pemKey, err := sftpd.GenerateClientKey()
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(t.TempDir(), "root")
	srv, err := sftpd.Start(sftpd.Config{Root: root, User: user, AuthorizedKey: signer.PublicKey(), Password: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv, pemKey, root
}

func dial(rawURL string, opts transport.Options) (transport.Transport, error) {
	return transport.Open(context.Background(), rawURL, opts)
}

func TestConformance(t *testing.T) {
	transporttest.Run(t, func(t *testing.T) transport.Transport {
		srv, key, _ := server(t)
		tr, err := dial("sftp://"+user+"@"+srv.Addr()+"/", transport.Options{Secret: key, HostKey: srv.HostKeyFingerprint()})
		if err != nil {
			t.Fatal(err)
		}
		return tr
	})
}

// sshdEnv reads where scripts/sshd.sh's OpenSSH server is, and the client
// key it made. The full suite (SYNDICATE_FULL=1) fails without it.
func sshdEnv(t *testing.T) (map[string]string, []byte) {
	t.Helper()
	env := map[string]string{}
	for _, k := range []string{"ADDR", "USER", "KEY", "HOSTKEY", "ROOT"} {
		env[k] = os.Getenv("SYNDICATE_TEST_SSHD_" + k)
		if env[k] == "" {
			msg := "SYNDICATE_TEST_SSHD_" + k + " not set; run scripts/sshd.sh as root and source the env file it writes"
			if os.Getenv("SYNDICATE_FULL") == "1" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	key, err := os.ReadFile(env["KEY"])
	if err != nil {
		t.Fatal(err)
	}
	return env, key
}

func TestConformanceOpenSSH(t *testing.T) {
	env, key := sshdEnv(t)
	run := time.Now().Format("20060102-150405.000000")
	transporttest.Run(t, func(t *testing.T) transport.Transport {
		dir := filepath.Join(env["ROOT"], run, strings.ReplaceAll(t.Name(), "/", "-"))
		u := url.URL{Scheme: "sftp", User: url.User(env["USER"]), Host: env["ADDR"], Path: dir}
		tr, err := dial(u.String(), transport.Options{Secret: key, HostKey: env["HOSTKEY"]})
		if err != nil {
			t.Fatal(err)
		}
		return tr
	})
}

// TestKnownHostsOpenSSH checks a known_hosts file holding only the server's
// ECDSA key, while the transport prefers ed25519 (scripts/sshd.sh gives the
// server both): the handshake must ask for the type the file knows.
func TestKnownHostsOpenSSH(t *testing.T) {
	env, key := sshdEnv(t)
	var ecdsaKey ssh.PublicKey
	grab := &ssh.ClientConfig{
		User:              env["USER"],
		HostKeyAlgorithms: []string{ssh.KeyAlgoECDSA256},
		HostKeyCallback: func(_ string, _ net.Addr, k ssh.PublicKey) error {
			ecdsaKey = k
			return errors.New("got it")
		},
	}
	if _, err := ssh.Dial("tcp", env["ADDR"], grab); ecdsaKey == nil {
		t.Fatalf("server offers no ECDSA host key: %v", err)
	}
	kh := filepath.Join(t.TempDir(), "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(env["ADDR"])}, ecdsaKey)
	if err := os.WriteFile(kh, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	u := url.URL{Scheme: "sftp", User: url.User(env["USER"]), Host: env["ADDR"], Path: env["ROOT"]}
	tr, err := dial(u.String(), transport.Options{Secret: key, KnownHosts: kh})
	if err != nil {
		t.Fatal(err)
	}
	tr.Close()
}

func TestLoginRefused(t *testing.T) {
	srv, _, _ := server(t)
	_, otherKey, err := sftpd.GenerateClientKey()
	if err != nil {
		t.Fatal(err)
	}
	for name, secret := range map[string][]byte{"wrong key": otherKey, "wrong password": []byte("guess\n")} {
		t.Run(name, func(t *testing.T) {
			_, err := dial("sftp://"+user+"@"+srv.Addr()+"/", transport.Options{Secret: secret, HostKey: srv.HostKeyFingerprint()})
			if !transport.IsPermanent(err) || !strings.Contains(err.Error(), "login refused") {
				t.Fatalf("err = %v, want a permanent login refusal", err)
			}
			if strings.Contains(err.Error(), strings.TrimSpace(string(secret))) {
				t.Fatal("error contains the secret")
			}
		})
	}
}

func TestPasswordLogin(t *testing.T) {
	srv, _, root := server(t)
	tr, err := dial("sftp://"+user+"@"+srv.Addr()+"/in", transport.Options{Secret: []byte("s3cret\n"), HostKey: srv.HostKeyFingerprint()})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.Put(context.Background(), "p.txt", strings.NewReader("pw"), 2); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "in", "p.txt")); err != nil || string(b) != "pw" {
		t.Fatalf("file on server = %q, %v", b, err)
	}
}

func TestEmptySecret(t *testing.T) {
	srv, _, _ := server(t)
	_, err := dial("sftp://"+user+"@"+srv.Addr()+"/", transport.Options{HostKey: srv.HostKeyFingerprint()})
	if !transport.IsPermanent(err) {
		t.Fatalf("err = %v, want permanent", err)
	}
}

func TestHostKeyPolicy(t *testing.T) {
	srv, key, _ := server(t)
	u := "sftp://" + user + "@" + srv.Addr() + "/"

	_, err := dial(u, transport.Options{Secret: key})
	if !transport.IsPermanent(err) || !strings.Contains(err.Error(), srv.HostKeyFingerprint()) {
		t.Fatalf("no policy: err = %v, want permanent naming %s", err, srv.HostKeyFingerprint())
	}

	_, err = dial(u, transport.Options{Secret: key, HostKey: "SHA256:AAAAwrongwrongwrong"})
	if !transport.IsPermanent(err) || !strings.Contains(err.Error(), "SHA256:AAAAwrongwrongwrong") || !strings.Contains(err.Error(), srv.HostKeyFingerprint()) {
		t.Fatalf("wrong pin: err = %v, want permanent naming both fingerprints", err)
	}

	kh := filepath.Join(t.TempDir(), "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(srv.Addr())}, srv.HostKey())
	if err := os.WriteFile(kh, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tr, err := dial(u, transport.Options{Secret: key, KnownHosts: kh})
	if err != nil {
		t.Fatalf("known_hosts with the server key: %v", err)
	}
	tr.Close()

	other, _, _ := server(t) // a different host key at another address
	line = knownhosts.Line([]string{knownhosts.Normalize(srv.Addr())}, other.HostKey())
	if err := os.WriteFile(kh, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err = dial(u, transport.Options{Secret: key, KnownHosts: kh}); !transport.IsPermanent(err) {
		t.Fatalf("known_hosts with another key: err = %v, want permanent", err)
	}
}

func TestClosedPortIsRetryable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = dial("sftp://"+user+"@"+addr+"/", transport.Options{Secret: []byte("pw"), InsecureIgnoreHostKey: true, Timeout: 5 * time.Second})
	if err == nil || transport.IsPermanent(err) {
		t.Fatalf("err = %v, want a retryable error", err)
	}
}

func TestCancelMidTransfer(t *testing.T) {
	srv, key, _ := server(t)
	tr, err := dial("sftp://"+user+"@"+srv.Addr()+"/", transport.Options{Secret: key, HostKey: srv.HostKeyFingerprint()})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	err = tr.Put(ctx, "endless.bin", endless{}, -1)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Put took %v to notice the cancel", d)
	}
}

type endless struct{}

func (endless) Read(p []byte) (int, error) { return len(p), nil }

func TestJail(t *testing.T) {
	srv, key, root := server(t)
	tr, err := dial("sftp://"+user+"@"+srv.Addr()+"/", transport.Options{Secret: key, HostKey: srv.HostKeyFingerprint()})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.Put(context.Background(), "../escape.txt", strings.NewReader("x"), 1); !transport.IsPermanent(err) {
		t.Fatalf("Put ../escape.txt: err = %v, want a permanent name error", err)
	}

	// A raw client is not stopped by ValidateName; the server must be.
	signer, err := ssh.ParsePrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := ssh.Dial("tcp", srv.Addr(), &ssh.ClientConfig{User: user, Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, HostKeyCallback: ssh.FixedHostKey(srv.HostKey())})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c, err := pkgsftp.NewClient(conn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f, err := c.Create("/../../escape.txt")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("inside")); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if b, err := os.ReadFile(filepath.Join(root, "escape.txt")); err != nil || !bytes.Equal(b, []byte("inside")) {
		t.Fatalf("escape.txt inside root = %q, %v", b, err)
	}
	if entries, err := c.ReadDir("/"); err != nil || len(entries) != 1 || entries[0].Name() != "escape.txt" {
		t.Fatalf("ReadDir / = %v, %v; want escape.txt", entries, err)
	}
	for _, dir := range []string{filepath.Dir(root), filepath.Dir(filepath.Dir(root))} {
		if _, err := os.Stat(filepath.Join(dir, "escape.txt")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("escape.txt outside root in %s: %v", dir, err)
		}
	}

	// A symlink out of the root (planted on the server side) is not followed.
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create("/link/leak.txt"); err == nil {
		t.Fatal("created a file through a symlink that leaves the root")
	}
	if _, err := os.Stat(filepath.Join(outside, "leak.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("leak.txt outside root: %v", err)
	}
}

func TestServerCloseDropsClients(t *testing.T) {
	srv, key, _ := server(t)
	tr, err := dial("sftp://"+user+"@"+srv.Addr()+"/", transport.Options{Secret: key, HostKey: srv.HostKeyFingerprint()})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	done := make(chan error, 1)
	go func() { done <- srv.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return with a client connected")
	}
	if _, err := tr.Stat(context.Background(), "a.txt"); err == nil || transport.IsPermanent(err) {
		t.Fatalf("Stat after server Close: err = %v, want a retryable error", err)
	}
}
