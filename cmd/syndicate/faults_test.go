package main_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/net/webdav"

	"github.com/syndicate-media/syndicate/client"
	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/intake"
	"github.com/syndicate-media/syndicate/internal/store/storetest"
)

// The fault tests run in the full suite (SYNDICATE_FULL=1): each takes
// half a minute or more. The partner is a WebDAV server that records
// every MOVE (a file committed under its final name), so "delivered
// exactly once" is checked where it matters, at the partner.

func requireFull(t *testing.T) {
	t.Helper()
	if os.Getenv("SYNDICATE_FULL") != "1" {
		t.Skip("slow fault test: runs with SYNDICATE_FULL=1 (scripts/test-all.sh)")
	}
}

// davRecorder is a WebDAV partner that counts commits per final path.
type davRecorder struct {
	root  string
	srv   *httptest.Server
	mu    sync.Mutex
	moves map[string]int
}

func startDAV(t *testing.T) *davRecorder {
	d := &davRecorder{root: t.TempDir(), moves: map[string]int{}}
	os.Mkdir(filepath.Join(d.root, "in"), 0o755)
	h := &webdav.Handler{FileSystem: webdav.Dir(d.root), LockSystem: webdav.NewMemLS()}
	d.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "MOVE" {
			if u, err := url.Parse(r.Header.Get("Destination")); err == nil {
				d.mu.Lock()
				d.moves[path.Clean(u.Path)]++
				d.mu.Unlock()
			}
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(d.srv.Close)
	return d
}

// checkOnce fails unless every delivery's package holds exactly its
// manifest's files with their sha256 and each was committed exactly once.
func (d *davRecorder) checkOnce(t *testing.T, ids []string) {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	want := 0
	for _, id := range ids {
		dir := filepath.Join(d.root, "in", id)
		checkExactly(t, dir, id)
		filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
			if err == nil && !e.IsDir() {
				rel, _ := filepath.Rel(d.root, p)
				want++
				if n := d.moves["/"+filepath.ToSlash(rel)]; n != 1 {
					t.Errorf("%s committed %d times at the partner, want exactly once", rel, n)
				}
			}
			return nil
		})
	}
	total := 0
	for _, n := range d.moves {
		total += n
	}
	if total != want {
		t.Errorf("the partner saw %d commits for %d files", total, want)
	}
}

// faultRig is workers (and optionally an api process) on one PostgreSQL
// database, delivering small slow packages to the recording partner.
type faultRig struct {
	db    string
	dav   *davRecorder
	media string
	api   string // URL notifications go to
	mu    sync.Mutex
	ids   []string
}

func newFaultRig(t *testing.T) *faultRig {
	r := &faultRig{db: storetest.Postgres(t).DatabaseURL, dav: startDAV(t)}
	r.media = filepath.Join(t.TempDir(), "m.mxf")
	b := make([]byte, 600<<10)
	rand.Read(b)
	os.WriteFile(r.media, b, 0o644)
	return r
}

// worker starts `syndicate serve --role worker` as executor id on db
// (the rig's database unless another URL, e.g. through a proxy, is given).
func (r *faultRig) worker(t *testing.T, id, dataDir, db string) proc {
	if db == "" {
		db = r.db
	}
	return serveWith(t, dataDir, db, "--role", "worker", "--executor-id", id,
		"--heartbeat", "300ms", "--dead-after", "3s", "--allow-private-destinations")
}

func (r *faultRig) partner(t *testing.T) {
	profile := filepath.Join(t.TempDir(), "dav.yaml")
	os.WriteFile(profile, []byte(fmt.Sprintf(`id: dav
name: DAV
format: json
concurrency: 4
destination:
  url: %s/in
  path: "{delivery_id}"
  max_bytes_per_second: 300000
retry:
  max_attempts: 8
  base_interval: 500ms
`, r.dav.srv.URL)), 0o644)
	cli(t, r.api, "partners", "apply", "-f", profile)
}

// submit notifies one new asset and remembers its delivery.
func (r *faultRig) submit(t *testing.T, asset string) error {
	cl := client.New(r.api, token)
	ctx := context.Background()
	if _, err := cl.PutAsset(ctx, domain.Asset{ID: asset, Type: "clip", Title: asset,
		Media: []domain.MediaFile{{Role: "main", URI: r.media}}}); err != nil {
		return err
	}
	resp, err := cl.Notify(ctx, intake.Request{AssetID: asset, Partners: intake.Partners{IDs: []string{"dav"}}, IdempotencyKey: asset})
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.ids = append(r.ids, resp.Decisions[0].DeliveryID)
	r.mu.Unlock()
	return nil
}

// waitAll waits for every submitted delivery to finish and fails unless
// all were delivered.
func (r *faultRig) waitAll(t *testing.T, logs func() string) []string {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), r.db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	r.mu.Lock()
	ids := append([]string(nil), r.ids...)
	r.mu.Unlock()
	var open int
	for deadline := time.Now().Add(4 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		err := conn.QueryRow(context.Background(), `SELECT count(*) FROM syn_deliveries
			WHERE status NOT IN ('delivered', 'failed', 'cancelled')`).Scan(&open)
		if err == nil && open == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries still open:\n%s", open, logs())
		}
	}
	rows, _ := conn.Query(context.Background(), `SELECT id, status, last_error FROM syn_deliveries WHERE status <> 'delivered'`)
	for rows.Next() {
		var id, st, e string
		rows.Scan(&id, &st, &e)
		t.Errorf("delivery %s %s: %s", id, st, e)
	}
	rows.Close()
	var n int
	conn.QueryRow(context.Background(), `SELECT count(*) FROM syn_deliveries`).Scan(&n)
	if n != len(ids) {
		t.Errorf("%d deliveries in the database, %d submitted", n, len(ids))
	}
	sort.Strings(ids)
	return ids
}

// TestFaultPostgresConnectionsKilled: while deliveries run on three
// workers, every connection to the test database is terminated, three
// times. Nothing is lost and nothing reaches the partner twice.
func TestFaultPostgresConnectionsKilled(t *testing.T) {
	requireFull(t)
	r := newFaultRig(t)
	var procs []proc
	for i := range 3 {
		procs = append(procs, r.worker(t, fmt.Sprintf("w%d", i+1), t.TempDir(), ""))
	}
	r.api = procs[0].url
	r.partner(t)
	for i := range 12 {
		if err := r.submit(t, fmt.Sprintf("a%02d", i)); err != nil {
			t.Fatal(err)
		}
	}
	admin, err := pgx.Connect(context.Background(), r.db)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	for range 3 {
		time.Sleep(1500 * time.Millisecond)
		// Only this test's own database: other tests share the server.
		var killed int
		if err := admin.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))
			FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&killed); err != nil {
			t.Fatal(err)
		}
		t.Logf("terminated %d connections", killed)
	}
	logs := func() string {
		var b strings.Builder
		for i, p := range procs {
			fmt.Fprintf(&b, "--- w%d\n%s", i+1, p.log.String())
		}
		return b.String()
	}
	ids := r.waitAll(t, logs)
	r.dav.checkOnce(t, ids)
	if t.Failed() {
		t.Log(logs())
	}
}

// pgProxy forwards TCP to PostgreSQL until cut: cutting closes every
// connection and refuses new ones until restored.
type pgProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  []net.Conn
}

func startPGProxy(t *testing.T, target string) *pgProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pgProxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); p.setCut(true) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			if p.cut {
				p.mu.Unlock()
				c.Close()
				continue
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				p.mu.Unlock()
				c.Close()
				continue
			}
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { io.Copy(s, c); s.Close() }()
			go func() { io.Copy(c, s); c.Close() }()
		}
	}()
	return p
}

func (p *pgProxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}

// TestFaultWorkerPartitioned: a worker loses PostgreSQL (its connections
// go through a proxy the test cuts) for longer than --dead-after while it
// transfers. It stops sending, the other worker takes its deliveries
// over, and when it comes back it sends nothing again: every file reaches
// the partner exactly once.
func TestFaultWorkerPartitioned(t *testing.T) {
	requireFull(t)
	r := newFaultRig(t)
	u, _ := url.Parse(r.db)
	proxy := startPGProxy(t, u.Host)
	pu := *u
	pu.Host = proxy.ln.Addr().String()
	direct := r.worker(t, "w-direct", t.TempDir(), "")
	cut := r.worker(t, "w-cut", t.TempDir(), pu.String())
	r.api = direct.url
	r.partner(t)
	for i := range 8 {
		if err := r.submit(t, fmt.Sprintf("p%02d", i)); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pgx.Connect(context.Background(), r.db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	poll(t, "w-cut to be transferring", func() bool {
		var n int
		conn.QueryRow(context.Background(), `SELECT count(*) FROM syn_deliveries d JOIN dbos.workflow_status w
			ON w.workflow_uuid = 'delivery-' || d.id WHERE w.executor_id = 'w-cut' AND d.status = 'transferring' AND d.bytes > 0`).Scan(&n)
		return n > 0
	})
	proxy.setCut(true)
	// Until the other worker has taken w-cut over (3 s of silence), then a
	// little longer: w-cut must stay quiet at the partner all along.
	poll(t, "the takeover of w-cut", func() bool {
		return strings.Contains(direct.log.String(), "took over dead executors")
	})
	time.Sleep(2 * time.Second)
	proxy.setCut(false)
	logs := func() string { return "--- w-direct\n" + direct.log.String() + "--- w-cut\n" + cut.log.String() }
	ids := r.waitAll(t, logs)
	r.dav.checkOnce(t, ids)
	// It stopped either when its lease lapsed mid-file or when it could
	// not confirm its ownership before committing a file.
	if l := cut.log.String(); !strings.Contains(l, "stopping the transfer: this process lost touch with the database") &&
		!strings.Contains(l, `"error":"ownership of delivery-`) {
		t.Errorf("w-cut's transfer did not stop for the lost database")
	}
	// w-cut is alive again and takes work as before.
	poll(t, "w-cut to heartbeat again", func() bool {
		var ok bool
		conn.QueryRow(context.Background(), `SELECT taken_over_at IS NULL FROM syn_executors WHERE id = 'w-cut'`).Scan(&ok)
		return ok
	})
	if t.Failed() {
		t.Log(logs())
	}
}

// TestFaultRollingRestart: an api process takes notifications all along
// while each of three workers in turn gets SIGTERM and is started again
// (same executor id and data folder). Nothing is lost or sent twice.
func TestFaultRollingRestart(t *testing.T) {
	requireFull(t)
	r := newFaultRig(t)
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	var mu sync.Mutex
	procs := make([]proc, 3)
	var old []proc // stopped ones, for their logs
	for i := range procs {
		procs[i] = r.worker(t, fmt.Sprintf("w%d", i+1), dirs[i], "")
	}
	api := serveWith(t, t.TempDir(), r.db, "--role", "api", "--executor-id", "api")
	r.api = api.url
	r.partner(t)
	stop := make(chan struct{})
	submitted := make(chan error, 1)
	go func() {
		var err error
		for i := 0; err == nil; i++ {
			select {
			case <-stop:
				submitted <- nil
				return
			case <-time.After(400 * time.Millisecond):
			}
			err = r.submit(t, fmt.Sprintf("r%03d", i))
		}
		submitted <- err
	}()
	for i := range procs {
		time.Sleep(2 * time.Second)
		mu.Lock()
		p := procs[i]
		mu.Unlock()
		p.cmd.Process.Signal(syscall.SIGTERM)
		if err := p.cmd.Wait(); err != nil {
			t.Fatalf("w%d after SIGTERM: %v\n%s", i+1, err, p.log.String())
		}
		mu.Lock()
		old = append(old, p)
		procs[i] = r.worker(t, fmt.Sprintf("w%d", i+1), dirs[i], "")
		mu.Unlock()
	}
	time.Sleep(2 * time.Second)
	close(stop)
	if err := <-submitted; err != nil {
		t.Fatalf("a notification failed during the rolling restart: %v", err)
	}
	logs := func() string {
		mu.Lock()
		defer mu.Unlock()
		var b strings.Builder
		for _, p := range append(old, procs...) {
			b.WriteString("---\n" + p.log.String())
		}
		return b.String()
	}
	ids := r.waitAll(t, logs)
	if len(ids) < 10 {
		t.Fatalf("only %d deliveries submitted", len(ids))
	}
	r.dav.checkOnce(t, ids)
	t.Logf("%d deliveries through a rolling restart of 3 workers", len(ids))
	if t.Failed() {
		t.Log(logs())
	}
}
