package workflow_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
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
	"github.com/syndicate-media/syndicate/internal/transport/sftp/sftpd"
	"github.com/syndicate-media/syndicate/internal/workflow"
)

// cutProxy forwards TCP to target and cuts the first connection once it
// has carried cutAfter bytes from the client; later connections pass.
type cutProxy struct {
	ln       net.Listener
	target   string
	cutAfter int64
	cut      atomic.Bool
	wg       sync.WaitGroup
}

func startCutProxy(t *testing.T, target string, cutAfter int64) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, cutAfter: cutAfter}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		first := p.cut.CompareAndSwap(false, true)
		p.wg.Add(2)
		go func() { defer p.wg.Done(); io.Copy(c, s); c.Close() }()
		go func() {
			defer p.wg.Done()
			if first {
				io.CopyN(s, c, p.cutAfter) // then drop both ends mid-transfer
			} else {
				io.Copy(s, c)
			}
			s.Close()
			c.Close()
		}()
	}
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuf) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// TestConnectionCutResumes cuts the SFTP connection in the middle of an
// upload, over one connection or several; the retry continues from what
// the server holds and the package still matches its manifest.
func TestConnectionCutResumes(t *testing.T) {
	for _, kind := range []string{"", "tar"} {
		t.Run("archive="+kind, func(t *testing.T) { cutAndResume(t, kind) })
	}
}

func cutAndResume(t *testing.T, archiveKind string) {
	cfg := storetest.SQLite(t)
	st := storetest.Open(t, cfg)
	logs := &lockedBuf{}
	eng, err := workflow.New(context.Background(), st, workflow.Config{WorkDir: filepath.Join(cfg.DataDir, "work"),
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
	srv, err := sftpd.Start(sftpd.Config{Root: root, User: "cut", AuthorizedKey: signer.PublicKey()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	keyFile := filepath.Join(t.TempDir(), "key")
	os.WriteFile(keyFile, pemKey, 0o600)
	// A plain 40 MiB file goes over one connection; the 80 MiB tar, of
	// unknown size, over four (destination.streams), the first of which
	// carries about a quarter of it: cut that one at 12 MiB, when the
	// others have written about 36 more and the file holds more than the
	// 16 MiB a resume steps back.
	cutAfter, size := int64(30<<20), 40<<20
	if archiveKind != "" {
		cutAfter, size = 12<<20, 80<<20
	}
	proxy := startCutProxy(t, srv.Addr(), cutAfter)

	e.media = filepath.Join(t.TempDir(), "big.mxf")
	b := make([]byte, size)
	rand.Read(b)
	os.WriteFile(e.media, b, 0o644)
	e.partner(t, "flaky", "sftp://cut@"+proxy.ln.Addr().String()+"/in", func(p *domain.Partner) {
		p.Destination.Credentials = "file:" + keyFile
		p.Destination.HostKey = srv.HostKeyFingerprint()
		p.Package.Archive = archiveKind
		p.Destination.Streams = 4 // a loopback server would get one by default
	})
	e.asset(t, "ep-1", "Pilot")
	resp, err := e.intake.Notify(context.Background(), intake.Request{AssetID: "ep-1", Partners: intake.Partners{All: true}})
	if err != nil {
		t.Fatal(err)
	}
	d := waitTerminal(t, st, resp.Decisions[0].DeliveryID)
	if d.Status != domain.StatusDelivered || d.Attempts != 2 {
		t.Fatalf("after a cut connection: %+v (want delivered on the 2nd attempt)", d)
	}
	if !proxy.cut.Load() || !strings.Contains(logs.String(), `"msg":"resuming upload"`) {
		t.Fatalf("the retry did not resume:\n%s", logs.String())
	}
	if archiveKind == "" {
		checkPackage(t, filepath.Join(root, "in", "ep-1"))
		return
	}
	arc, err := os.ReadFile(filepath.Join(root, "in", "ep-1", "ep-1.tar"))
	if err != nil {
		t.Fatal(err)
	}
	if got := unpackAll(t, "tar", arc)["main.mxf"]; !bytes.Equal(got, b) {
		t.Fatal("the resumed archive does not hold the media intact")
	}
	side, _ := os.ReadFile(filepath.Join(root, "in", "ep-1", "ep-1.tar.sha256"))
	if sum := sha256.Sum256(arc); !strings.HasPrefix(string(side), hex.EncodeToString(sum[:])) {
		t.Fatal("the archive's .sha256 does not match the resumed archive")
	}
}
