package workflow_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/internal/catalog"
	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/intake"
	"github.com/syndicate-media/syndicate/internal/store/storetest"
	"github.com/syndicate-media/syndicate/internal/transport"
	"github.com/syndicate-media/syndicate/internal/transport/sftp/sftpd"
	"github.com/syndicate-media/syndicate/internal/workflow"
)

// cutsProxy forwards TCP to target and cuts each of the first cuts
// connections once it has carried cutAfter bytes from the client.
type cutsProxy struct {
	ln       net.Listener
	target   string
	cutAfter int64
	cuts     int64
	n        atomic.Int64
	wg       sync.WaitGroup
}

func startCutsProxy(t *testing.T, target string, cutAfter int64, cuts int) *cutsProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutsProxy{ln: ln, target: target, cutAfter: cutAfter, cuts: int64(cuts)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			cut := p.n.Add(1) <= p.cuts
			p.wg.Add(2)
			go func() { defer p.wg.Done(); io.Copy(c, s); c.Close() }()
			go func() {
				defer p.wg.Done()
				if cut {
					io.CopyN(s, c, p.cutAfter)
				} else {
					io.Copy(s, c)
				}
				s.Close()
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

// verifyRun is one delivery of a 40 MiB file to an in-process SFTP
// server configured by cfg, through a proxy that cuts the first cuts
// connections after 30 MiB (none when cuts is 0).
type verifyRun struct {
	d     domain.Delivery
	root  string // the server's folder: what the partner holds
	media []byte
	logs  string
}

func deliverVerified(t *testing.T, cuts int, cfg func(c *sftpd.Config, root string)) verifyRun {
	t.Helper()
	sc := storetest.SQLite(t)
	st := storetest.Open(t, sc)
	logs := &lockedBuf{}
	eng, err := workflow.New(context.Background(), st, workflow.Config{WorkDir: filepath.Join(sc.DataDir, "work"),
		Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Shutdown(5 * time.Second) })
	e := env{store: st, intake: &intake.Service{Store: st, Catalog: catalog.Builtin{Store: st}, Engine: eng}}

	root := t.TempDir()
	signer, pemKey, err := sftpd.GenerateClientKey()
	if err != nil {
		t.Fatal(err)
	}
	c := sftpd.Config{Root: root, User: "v", AuthorizedKey: signer.PublicKey()}
	if cfg != nil {
		cfg(&c, root)
	}
	srv, err := sftpd.Start(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	keyFile := filepath.Join(t.TempDir(), "key")
	os.WriteFile(keyFile, pemKey, 0o600)
	addr := srv.Addr()
	if cuts > 0 {
		addr = startCutsProxy(t, srv.Addr(), 30<<20, cuts).ln.Addr().String()
	}
	media := make([]byte, 40<<20)
	rand.Read(media)
	e.media = filepath.Join(t.TempDir(), "big.mxf")
	os.WriteFile(e.media, media, 0o644)
	e.partner(t, "p", "sftp://v@"+addr+"/in", func(p *domain.Partner) {
		p.Destination.Credentials = "file:" + keyFile
		p.Destination.HostKey = srv.HostKeyFingerprint()
		p.Destination.Streams = 1
	})
	e.asset(t, "ep-1", "Pilot")
	resp, err := e.intake.Notify(context.Background(), intake.Request{AssetID: "ep-1", Partners: intake.Partners{All: true}})
	if err != nil {
		t.Fatal(err)
	}
	d := waitTerminal(t, st, resp.Decisions[0].DeliveryID)
	return verifyRun{d: d, root: root, media: media, logs: logs.String()}
}

// partnerHolds fails unless the partner's copy of the media (read from
// the server's own folder) has the source's sha256.
func (r verifyRun) partnerHolds(t *testing.T) {
	t.Helper()
	got, err := os.ReadFile(filepath.Join(r.root, "in", "ep-1", "main.mxf"))
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(got) != sha256.Sum256(r.media) {
		zeros := len(got) - len(bytes.TrimLeft(got, "\x00"))
		t.Fatalf("the partner holds other bytes than the source (%d bytes, %d leading zeros), delivery %s", len(got), zeros, r.d.Status)
	}
	checkPackage(t, filepath.Join(r.root, "in", "ep-1"))
}

func (r verifyRun) verified(t *testing.T, name string) string {
	t.Helper()
	for _, f := range r.d.VerifiedFiles {
		if f.Name == name {
			return f.Verified
		}
	}
	t.Fatalf("no verification recorded for %s: %+v", name, r.d.VerifiedFiles)
	return ""
}

// TestResumeOntoTruncatingServer cuts a delivery mid-file to a server
// that truncates every file it opens for writing: the retry must not
// resume onto the emptied partial (it was delivered with 30 MB of zeros
// at its start), but send the whole file once, and say so.
func TestResumeOntoTruncatingServer(t *testing.T) {
	r := deliverVerified(t, 1, func(c *sftpd.Config, _ string) { c.TruncateOnOpen = true })
	if r.d.Status != domain.StatusDelivered {
		t.Fatalf("delivery %s: %s", r.d.Status, r.d.LastError)
	}
	r.partnerHolds(t)
	if !strings.Contains(r.logs, "did not take the rest of the file") {
		t.Fatalf("no word of the refused resume:\n%s", r.logs)
	}
	if got := r.verified(t, "main.mxf"); got != string(transport.VerifiedSize) {
		t.Fatalf("main.mxf verified %q, want %q (sent whole)", got, transport.VerifiedSize)
	}
	if len(r.d.ResumeRefused) != 1 || !strings.HasSuffix(r.d.ResumeRefused[0], "main.mxf") {
		t.Fatalf("resume_refused = %q, want the media", r.d.ResumeRefused)
	}
}

// TestRefusedResumeNotAskedAgain: the whole-file upload after a refused
// resume is cut too; the third attempt must not ask for an offset again
// (it is recorded with the delivery), but send the whole file.
func TestRefusedResumeNotAskedAgain(t *testing.T) {
	r := deliverVerified(t, 2, func(c *sftpd.Config, _ string) { c.TruncateOnOpen = true })
	if r.d.Status != domain.StatusDelivered || r.d.Attempts != 3 {
		t.Fatalf("delivery %s after %d attempts: %s", r.d.Status, r.d.Attempts, r.d.LastError)
	}
	r.partnerHolds(t)
	if n := strings.Count(r.logs, `"msg":"resuming upload"`); n != 1 {
		t.Fatalf("%d resumes, want 1 (the one refused):\n%s", n, r.logs)
	}
}

// TestResumedSeamReadBack: a resumed upload to a server that offers no
// hash is verified by reading back its seam.
func TestResumedSeamReadBack(t *testing.T) {
	r := deliverVerified(t, 1, nil)
	if r.d.Status != domain.StatusDelivered {
		t.Fatalf("delivery %s: %s", r.d.Status, r.d.LastError)
	}
	r.partnerHolds(t)
	if got := r.verified(t, "main.mxf"); got != string(transport.VerifiedSeam) {
		t.Fatalf("main.mxf verified %q, want %q", got, transport.VerifiedSeam)
	}
	if got := r.verified(t, "manifest.json"); got != string(transport.VerifiedSize) {
		t.Fatalf("manifest.json verified %q, want %q", got, transport.VerifiedSize)
	}
}

// TestCorruptedAtPartnerSentAgain changes the partner's copy of the media
// as it is renamed into place, once: shortened by a byte (found by size),
// or, for a resumed upload, zeros over its first block (found by the seam
// read back). The delivery must not end delivered with those bytes: the
// file is sent again from the start and the partner holds the source.
func TestCorruptedAtPartnerSentAgain(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cuts    int
		corrupt func(f *os.File, size int64) error
	}{
		{"shortened", 0, func(f *os.File, size int64) error { return f.Truncate(size - 1) }},
		{"seam", 1, func(f *os.File, _ int64) error { _, err := f.WriteAt(make([]byte, 4096), 100); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var done atomic.Bool
			r := deliverVerified(t, tc.cuts, func(c *sftpd.Config, root string) {
				c.AfterRename = func(target string) {
					if !strings.HasSuffix(target, "main.mxf") || !done.CompareAndSwap(false, true) {
						return
					}
					f, err := os.OpenFile(filepath.Join(root, target), os.O_WRONLY, 0)
					if err != nil {
						t.Error(err)
						return
					}
					defer f.Close()
					fi, _ := f.Stat()
					if err := tc.corrupt(f, fi.Size()); err != nil {
						t.Error(err)
					}
				}
			})
			if !done.Load() {
				t.Fatal("the media was never renamed into place")
			}
			if r.d.Status != domain.StatusDelivered {
				t.Fatalf("delivery %s: %s", r.d.Status, r.d.LastError)
			}
			r.partnerHolds(t)
			if !strings.Contains(r.logs, "does not hold the file as sent") {
				t.Fatalf("no word of the mismatch:\n%s", r.logs)
			}
			// Only a resumed file that came out wrong is not resumed again.
			if want := tc.cuts; len(r.d.ResumeRefused) != want {
				t.Fatalf("resume_refused = %q, want %d", r.d.ResumeRefused, want)
			}
		})
	}
}

// TestResumeRefusedByServer cuts a delivery mid-file to a server that
// refuses writes into a file opened to continue it: the retry falls back
// once to the whole file, records that the file is not to be resumed,
// and the partner ends with the source's bytes.
func TestResumeRefusedByServer(t *testing.T) {
	r := deliverVerified(t, 1, func(c *sftpd.Config, _ string) { c.RefuseResume = true })
	if r.d.Status != domain.StatusDelivered || r.d.Attempts != 2 {
		t.Fatalf("delivery %s after %d attempts: %s", r.d.Status, r.d.Attempts, r.d.LastError)
	}
	r.partnerHolds(t)
	if !strings.Contains(r.logs, "did not take the rest of the file") || !strings.Contains(r.logs, "refused") {
		t.Fatalf("no word of the refused resume:\n%s", r.logs)
	}
	if len(r.d.ResumeRefused) != 1 {
		t.Fatalf("resume_refused = %q, want the media", r.d.ResumeRefused)
	}
}
