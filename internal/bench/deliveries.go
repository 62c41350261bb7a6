package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/syndicate-media/syndicate/client"
	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/intake"
)

// DeliveriesConfig is one `syndicate bench deliveries` run.
type DeliveriesConfig struct {
	// Workers lists the worker counts to measure, one line each (1-8).
	Workers []int
	// Deliveries per worker count (1-5000), spread over Partners partners.
	Deliveries int
	Partners   int
	// Size of each delivery's media file in bytes.
	Size int64
	// Postgres is an admin URL; each worker count gets a fresh database on
	// that server, dropped afterwards.
	Postgres string
	// Timeout bounds each worker count's run.
	Timeout time.Duration
	// Self is the command line of this binary (default os.Executable()).
	Self []string
	// TempDir holds data folders, the media and the partners' folders.
	TempDir string
	Out     io.Writer
}

// DeliveriesResult is one worker count's measurement.
type DeliveriesResult struct {
	Workers, Delivered, Failed int
	Wall                       time.Duration // first notification accepted → last delivered
	PerSecond                  float64
	P50, P99                   time.Duration // notification → delivered, per delivery
}

func (r DeliveriesResult) String() string {
	return fmt.Sprintf("workers=%d deliveries=%d failed=%d wall=%s rate=%.1f/s p50=%s p99=%s",
		r.Workers, r.Delivered, r.Failed, r.Wall.Round(10*time.Millisecond), r.PerSecond,
		r.P50.Round(time.Millisecond), r.P99.Round(time.Millisecond))
}

// Deliveries measures end-to-end deliveries on PostgreSQL with N worker
// processes (role worker) and one api process, real child processes of
// this binary: it submits the deliveries over the API as fast as the API
// takes them, to local-folder partners, and reports throughput and the
// latency from notification to delivered, one line per worker count.
func Deliveries(ctx context.Context, cfg DeliveriesConfig) ([]DeliveriesResult, error) {
	if len(cfg.Workers) == 0 {
		cfg.Workers = []int{1, 2, 3}
	}
	for _, n := range cfg.Workers {
		if n < 1 || n > 8 {
			return nil, fmt.Errorf("bench deliveries: --workers %d: want 1-8", n)
		}
	}
	if cfg.Deliveries < 1 || cfg.Deliveries > 5000 {
		return nil, fmt.Errorf("bench deliveries: --deliveries %d: want 1-5000", cfg.Deliveries)
	}
	if cfg.Partners < 1 || cfg.Partners > 32 {
		return nil, fmt.Errorf("bench deliveries: --partners %d: want 1-32", cfg.Partners)
	}
	if cfg.Size < 0 || cfg.Size > 64<<20 {
		return nil, fmt.Errorf("bench deliveries: --size %d: want at most 64MiB", cfg.Size)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Minute
	}
	if len(cfg.Self) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		cfg.Self = []string{exe}
	}
	tmp, err := os.MkdirTemp(cfg.TempDir, "syndicate-bench-deliveries-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	var out []DeliveriesResult
	for _, n := range cfg.Workers {
		r, err := deliveriesOnce(ctx, cfg, n, filepath.Join(tmp, fmt.Sprintf("w%d", n)))
		if err != nil {
			return out, fmt.Errorf("bench deliveries, %d workers: %w", n, err)
		}
		fmt.Fprintln(cfg.Out, r)
		out = append(out, r)
	}
	return out, nil
}

func deliveriesOnce(parent context.Context, cfg DeliveriesConfig, workers int, dir string) (DeliveriesResult, error) {
	ctx, cancel := context.WithTimeout(parent, cfg.Timeout)
	defer cancel()
	res := DeliveriesResult{Workers: workers}
	dbURL, drop, err := freshDatabase(ctx, cfg.Postgres)
	if err != nil {
		return res, err
	}
	defer drop()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, err
	}
	media := filepath.Join(dir, "media.bin")
	b := make([]byte, cfg.Size)
	rand.Read(b)
	if err := os.WriteFile(media, b, 0o644); err != nil {
		return res, err
	}
	tok := make([]byte, 16)
	rand.Read(tok)
	token := "bench_" + hex.EncodeToString(tok)
	var procs []*child
	defer func() {
		for _, p := range procs {
			p.stop()
		}
	}()
	// Workers first: an api process needs the engine's schema they create.
	for i := range workers {
		p, err := startChild(ctx, cfg.Self, dir, fmt.Sprintf("bench-w%d", i+1), "worker", dbURL, token)
		if err != nil {
			return res, err
		}
		procs = append(procs, p)
	}
	api, err := startChild(ctx, cfg.Self, dir, "bench-api", "api", dbURL, token)
	if err != nil {
		return res, err
	}
	procs = append(procs, api)
	cl := client.New(api.url, token)
	for i := range cfg.Partners {
		id := fmt.Sprintf("bench-%d", i+1)
		doc := fmt.Sprintf("id: %s\nname: %s\nformat: json\nconcurrency: 8\ndestination:\n  url: file://%s\n  path: \"{delivery_id}\"\n",
			id, id, filepath.Join(dir, "partners", id))
		if _, err := cl.PutPartner(ctx, id, []byte(doc), "application/yaml"); err != nil {
			return res, fmt.Errorf("partner: %w", err)
		}
	}
	for i := range cfg.Deliveries {
		a := domain.Asset{ID: fmt.Sprintf("a%05d", i), Type: "clip", Title: "bench",
			Media: []domain.MediaFile{{Role: "main", URI: media}}}
		if _, err := cl.PutAsset(ctx, a); err != nil {
			return res, fmt.Errorf("asset: %w", err)
		}
	}
	// Submit from a few connections at once, as a catalog system would.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i := range cfg.Deliveries {
		g.Go(func() error {
			p := fmt.Sprintf("bench-%d", i%cfg.Partners+1)
			_, err := cl.Notify(gctx, intake.Request{AssetID: fmt.Sprintf("a%05d", i), Partners: intake.Partners{IDs: []string{p}}})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return res, fmt.Errorf("notify: %w", err)
	}
	return measure(ctx, dbURL, cfg.Deliveries, res)
}

// measure waits for every delivery to finish and reads their times from
// the database: created_at is when the notification was accepted.
func measure(ctx context.Context, dbURL string, want int, res DeliveriesResult) (DeliveriesResult, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return res, err
	}
	defer conn.Close(context.Background())
	for {
		var open int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM syn_deliveries WHERE status NOT IN ('delivered', 'failed', 'cancelled')`).Scan(&open); err != nil {
			return res, fmt.Errorf("waiting for the deliveries: %w", err)
		}
		if open == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return res, fmt.Errorf("%d deliveries still open: %w", open, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	rows, err := conn.Query(ctx, `SELECT status, created_at, COALESCE(finished_at, '') FROM syn_deliveries`)
	if err != nil {
		return res, err
	}
	defer rows.Close()
	var lat []time.Duration
	var first, last time.Time
	for rows.Next() {
		var status, created, finished string
		if err := rows.Scan(&status, &created, &finished); err != nil {
			return res, err
		}
		if status != "delivered" {
			res.Failed++
			continue
		}
		c, err1 := time.Parse(time.RFC3339Nano, created)
		f, err2 := time.Parse(time.RFC3339Nano, finished)
		if err := errors.Join(err1, err2); err != nil {
			return res, err
		}
		res.Delivered++
		lat = append(lat, f.Sub(c))
		if first.IsZero() || c.Before(first) {
			first = c
		}
		if f.After(last) {
			last = f
		}
	}
	if err := rows.Err(); err != nil {
		return res, err
	}
	if res.Delivered+res.Failed != want {
		return res, fmt.Errorf("%d deliveries in the database, %d submitted", res.Delivered+res.Failed, want)
	}
	if len(lat) == 0 {
		return res, errors.New("nothing was delivered")
	}
	slices.Sort(lat)
	res.Wall = last.Sub(first)
	res.PerSecond = float64(res.Delivered) / res.Wall.Seconds()
	res.P50 = lat[(len(lat)-1)*50/100]
	res.P99 = lat[(len(lat)-1)*99/100]
	return res, nil
}

// freshDatabase creates a database for one run on admin's server and
// returns its URL and a func that drops it.
func freshDatabase(ctx context.Context, admin string) (string, func(), error) {
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", nil, fmt.Errorf("postgres %s: %w", redactURL(admin), err)
	}
	defer conn.Close(context.Background())
	b := make([]byte, 6)
	rand.Read(b)
	name := "syndicate_bench_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, fmt.Errorf("create database: %w", err)
	}
	u, err := url.Parse(admin)
	if err != nil {
		return "", nil, err
	}
	u.Path = "/" + name
	drop := func() {
		c, err := pgx.Connect(context.Background(), admin)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	}
	return u.String(), drop, nil
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// child is one `syndicate serve` process of a run.
type child struct {
	cmd  *exec.Cmd
	url  string
	log  *os.File
	done chan struct{}
}

func startChild(ctx context.Context, self []string, dir, id, role, dbURL, token string) (*child, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	data := filepath.Join(dir, id)
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, id+".log"))
	if err != nil {
		return nil, err
	}
	args := append(append([]string(nil), self[1:]...), "serve", "--addr", addr, "--data-dir", data, "--role", role,
		"--executor-id", id, "--database", dbURL)
	cmd := exec.Command(self[0], args...)
	cmd.Env = append(os.Environ(), "SYNDICATE_TOKEN="+token)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	c := &child{cmd: cmd, url: "http://" + addr, log: logf, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(c.done) }()
	for {
		if resp, err := http.Get(c.url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return c, nil
			}
		}
		select {
		case <-c.done:
			b, _ := os.ReadFile(logf.Name())
			return nil, fmt.Errorf("%s exited: %s", id, lastLines(string(b), 5))
		case <-ctx.Done():
			c.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop ends the process with SIGTERM (SIGKILL after 15 s).
func (c *child) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(15 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
	c.log.Close()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}
