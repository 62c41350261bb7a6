package workflow_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/intake"
	"github.com/syndicate-media/syndicate/internal/store/storetest"
	_ "github.com/syndicate-media/syndicate/internal/transport/sftp" // sftp://
	"github.com/syndicate-media/syndicate/internal/transport/sftp/sftpd"
)

// TestSFTPRefusals delivers to an in-process SFTP server three ways: with a
// key it does not accept, to a server whose key is not the pinned one, and
// rightly. A refused login or a wrong host key is permanent: the delivery
// fails on its first attempt, with the reason, instead of spending its
// retries and hiding the cause behind "retries exhausted".
func TestSFTPRefusals(t *testing.T) {
	authorized, authorizedPEM, err := sftpd.GenerateClientKey()
	if err != nil {
		t.Fatal(err)
	}
	_, strangerPEM, err := sftpd.GenerateClientKey()
	if err != nil {
		t.Fatal(err)
	}
	otherHost, _, err := sftpd.GenerateClientKey() // any key but the server's
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(t.TempDir(), "root")
	srv, err := sftpd.Start(sftpd.Config{Root: root, User: "demo", AuthorizedKey: authorized.PublicKey()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })

	keys := t.TempDir()
	keyFile := func(name string, pem []byte) string {
		p := filepath.Join(keys, name)
		if err := os.WriteFile(p, pem, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	stranger, good := keyFile("stranger", strangerPEM), keyFile("good", authorizedPEM)

	e := start(t, storetest.SQLite(t))
	sftpPartner := func(id, key, pin string) {
		e.partner(t, id, "sftp://demo@"+srv.Addr()+"/in", func(p *domain.Partner) {
			p.Destination.Credentials = "file:" + key
			p.Destination.HostKey = pin
			p.Retry = domain.Retry{MaxAttempts: 3, BaseInterval: domain.Duration(50 * time.Millisecond)}
		})
	}
	sftpPartner("refused", stranger, srv.HostKeyFingerprint())
	sftpPartner("wrongpin", good, ssh.FingerprintSHA256(otherHost.PublicKey()))
	sftpPartner("ok", good, srv.HostKeyFingerprint())
	e.asset(t, "ep-1", "Pilot")

	resp, err := e.intake.Notify(context.Background(), intake.Request{AssetID: "ep-1", Partners: intake.Partners{All: true}})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Decisions) != 3 {
		t.Fatalf("decisions = %+v", resp.Decisions)
	}
	for _, dec := range resp.Decisions {
		d := waitTerminal(t, e.store, dec.DeliveryID)
		switch dec.PartnerID {
		case "refused":
			if d.Status != domain.StatusFailed || d.Attempts != 1 || !strings.Contains(d.LastError, "login refused") {
				t.Errorf("refused login: status %s, attempts %d, error %q; want failed after 1 attempt with \"login refused\"",
					d.Status, d.Attempts, d.LastError)
			}
			for _, secret := range [][]byte{strangerPEM, authorizedPEM} {
				for _, line := range pemLines(secret) {
					if strings.Contains(d.LastError, line) {
						t.Errorf("LastError %q contains private key text %q", d.LastError, line)
					}
				}
			}
		case "wrongpin":
			if d.Status != domain.StatusFailed || d.Attempts != 1 || !strings.Contains(d.LastError, "host key") {
				t.Errorf("wrong host key: status %s, attempts %d, error %q; want failed after 1 attempt naming the host key",
					d.Status, d.Attempts, d.LastError)
			}
			// The operator needs the key the server did show to check it.
			if !strings.Contains(d.LastError, srv.HostKeyFingerprint()) {
				t.Errorf("wrong host key: error %q does not name the server's key %s", d.LastError, srv.HostKeyFingerprint())
			}
		case "ok":
			if d.Status != domain.StatusDelivered || d.Attempts != 1 || d.Files != 3 {
				t.Fatalf("good key and pin: %+v", d)
			}
			dir := filepath.Join(root, "in", "ep-1")
			for _, name := range []string{"main.mp4", "metadata.json", "manifest.json"} {
				if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
					t.Error(err)
				}
			}
			checkPackage(t, dir)
		default:
			t.Errorf("unexpected partner %s", dec.PartnerID)
		}
	}
}

// pemLines are the PEM's header and base64 lines, any of which in an error
// would be a leak.
func pemLines(pem []byte) []string {
	var out []string
	for line := range strings.Lines(string(pem)) {
		if line = strings.TrimSpace(line); len(line) >= 16 {
			out = append(out, line)
		}
	}
	return out
}
