package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/syndicate-media/syndicate/internal/intake"
	"github.com/syndicate-media/syndicate/internal/server"
)

// IntakeConfig is one `syndicate bench intake`.
type IntakeConfig struct {
	// Count notifications are sent (0: until Duration); Duration bounds
	// the run (0: until Count). At least one must be set.
	Count    int
	Duration time.Duration
	// Clients send at once, each on its own keep-alive connection.
	Clients int
	// Batch > 0 sends batches of this many through
	// POST /v1/notifications:batch instead of one notification a request.
	Batch int
	// DatabaseURL is a PostgreSQL server to run on: the bench creates a
	// database of its own there and drops it at the end. Empty: SQLite in
	// a temporary directory.
	DatabaseURL string
	// MaxBacklog is the server's backlog bound (default 10 million: the
	// bench measures accepting, and the decider may lag behind).
	MaxBacklog int
	// CPUProfile, if set, receives a CPU profile of the intake run.
	CPUProfile string
	// TempDir holds the SQLite database and the partner's folder.
	TempDir string
	Out     io.Writer
	// Log receives the server's warnings (default: discarded).
	Log *slog.Logger
}

// IntakeResult is what a run measured.
type IntakeResult struct {
	Requests, Notifications, Acked, Lost, Refused int
	Seconds                                       float64
	Rate                                          float64 // acknowledged notifications per second
	P50, P99                                      time.Duration
	BareRate                                      float64 // requests per second to a handler that does nothing
	BareP50, BareP99                              time.Duration
}

// Intake starts a real server (SQLite in a temporary directory, or a
// fresh database on PostgreSQL) with one partner and one asset, sends
// notifications to its API over loopback from cfg.Clients keep-alive
// connections, then checks that every acknowledged notification is in the
// database. Before that, the same client sends as many requests (or for as
// long) to a bare net/http handler, the anchor. It prints one line and
// fails if any acknowledged notification is missing. It measures
// acceptance only: the decider may lag behind, and nothing is delivered
// (bench pipeline measures notification to delivered).
func Intake(ctx context.Context, cfg IntakeConfig) (IntakeResult, error) {
	var res IntakeResult
	if cfg.Count <= 0 && cfg.Duration <= 0 {
		return res, errors.New("bench intake: set --count or --duration")
	}
	if cfg.Clients <= 0 {
		cfg.Clients = 64
	}
	if cfg.Batch > intake.MaxBatch {
		return res, fmt.Errorf("bench intake: --batch at most %d", intake.MaxBatch)
	}
	if cfg.MaxBacklog == 0 {
		cfg.MaxBacklog = 10_000_000
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	// The anchor first, before the server exists (its decider and engine
	// would take CPU from it): the same client, the same requests (count,
	// or duration), a handler that does nothing.
	bare, err := bareServer()
	if err != nil {
		return res, err
	}
	anchor := load{url: bare.URL, token: "bare", prefix: "bare-", clients: cfg.Clients, batch: cfg.Batch, count: cfg.Count, duration: cfg.Duration}
	bst, err := anchor.do(ctx)
	bare.Close()
	if err != nil {
		return res, err
	}
	res.BareRate = float64(bst.requests) / bst.elapsed.Seconds()
	res.BareP50, res.BareP99 = percentile(bst.latencies, 0.50), percentile(bst.latencies, 0.99)

	dir, err := os.MkdirTemp(cfg.TempDir, "syndicate-bench-intake-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	dbURL := cfg.DatabaseURL
	if dbURL != "" {
		fresh, drop, err := freshPostgres(ctx, dbURL)
		if err != nil {
			return res, err
		}
		defer drop()
		dbURL = fresh
	}
	token := "bench-" + randomHex(16)
	srv, err := server.Start(ctx, server.Config{DataDir: filepath.Join(dir, "data"), DatabaseURL: dbURL, Addr: "127.0.0.1:0",
		Token: token, Logger: cfg.Log, AllowPrivateDestinations: true, Intake: intake.Config{MaxBacklog: cfg.MaxBacklog}})
	if err != nil {
		return res, err
	}
	defer srv.Close(10 * time.Second)
	if err := seed(ctx, srv.URL, token, dir); err != nil {
		return res, err
	}

	prefix := "bench-" + randomHex(6) + "-"
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return res, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return res, err
		}
	}
	run := load{url: srv.URL, token: token, prefix: prefix, clients: cfg.Clients, batch: cfg.Batch, count: cfg.Count, duration: cfg.Duration}
	st, err := run.do(ctx)
	if cfg.CPUProfile != "" {
		pprof.StopCPUProfile()
	}
	if err != nil {
		return res, err
	}
	stored, err := srv.Store.NotificationKeys(ctx, prefix)
	if err != nil {
		return res, err
	}
	for _, n := range st.acked {
		if !stored[prefix+strconv.Itoa(n)] {
			res.Lost++
		}
	}
	res.Requests, res.Notifications, res.Acked, res.Refused = st.requests, st.sent, len(st.acked), st.refused
	res.Seconds = st.elapsed.Seconds()
	res.Rate = float64(res.Acked) / res.Seconds
	res.P50, res.P99 = percentile(st.latencies, 0.50), percentile(st.latencies, 0.99)

	what := "notifications/s"
	if cfg.Batch > 0 {
		what = fmt.Sprintf("notifications/s (batches of %d)", cfg.Batch)
	}
	barePerNotification := res.BareRate * float64(max(cfg.Batch, 1))
	fmt.Fprintf(cfg.Out, "intake (acceptance only, decider may lag): %.0f %s, p50 %s ms, p99 %s ms, lost %d; bare net/http %.0f requests/s (p50 %s ms), intake/bare %.2f\n",
		res.Rate, what, ms(res.P50), ms(res.P99), res.Lost, res.BareRate, ms(res.BareP50), res.Rate/barePerNotification)
	if res.Lost > 0 {
		return res, fmt.Errorf("bench intake: %d acknowledged notifications are not in the database", res.Lost)
	}
	if res.Refused > 0 {
		return res, fmt.Errorf("bench intake: %d requests were refused or failed", res.Refused)
	}
	return res, nil
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 2, 64)
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[min(int(float64(len(ds))*p), len(ds)-1)]
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// seed stores the partner (a local folder) and the asset the
// notifications name, through the API.
func seed(ctx context.Context, base, token, dir string) error {
	media := filepath.Join(dir, "media.mp4")
	if err := os.WriteFile(media, []byte("bench media"), 0o644); err != nil {
		return err
	}
	dest := filepath.Join(dir, "partner")
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return err
	}
	calls := []struct{ path, body string }{
		{"/v1/partners/bench", `{"id":"bench","name":"Bench","format":"json","destination":{"url":"file://` + dest + `"}}`},
		{"/v1/assets/bench-asset", `{"id":"bench-asset","type":"episode","title":"Bench","media":[{"role":"main","uri":"` + media + `"}]}`},
	}
	for _, c := range calls {
		req, _ := http.NewRequestWithContext(ctx, "PUT", base+c.path, bytes.NewReader([]byte(c.body)))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("bench intake: PUT %s: %d %s", c.path, resp.StatusCode, b)
		}
	}
	return nil
}

// load is one timed run of requests.
type load struct {
	url, token, prefix string
	clients, batch     int
	count              int
	duration           time.Duration
}

type loadStats struct {
	requests, sent, refused int
	acked                   []int // notification numbers acknowledged
	latencies               []time.Duration
	elapsed                 time.Duration
}

func (l load) do(ctx context.Context) (loadStats, error) {
	tr := &http.Transport{MaxIdleConns: l.clients, MaxIdleConnsPerHost: l.clients, MaxConnsPerHost: l.clients,
		DisableCompression: true, DialContext: (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 2 * time.Minute}
	path := "/v1/notifications"
	per := 1
	if l.batch > 0 {
		path, per = "/v1/notifications:batch", l.batch
	}
	target := l.url + path
	auth := "Bearer " + l.token
	var next atomic.Int64
	var deadline time.Time
	if l.duration > 0 {
		deadline = time.Now().Add(l.duration)
	}
	type clientStats struct {
		acked     []int
		latencies []time.Duration
		requests  int
		sent      int
		refused   int
		err       error
	}
	stats := make([]clientStats, l.clients)
	var wg sync.WaitGroup
	start := time.Now()
	for c := range l.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cs := &stats[c]
			body := make([]byte, 0, 128*per)
			buf := make([]byte, 0, 512)
			nums := make([]int, 0, per)
			for ctx.Err() == nil {
				first := int(next.Add(int64(per))) - per
				if l.count > 0 && first >= l.count {
					return
				}
				if !deadline.IsZero() && time.Now().After(deadline) {
					return
				}
				n := per
				if l.count > 0 {
					n = min(per, l.count-first)
				}
				body, nums = body[:0], nums[:0]
				if l.batch > 0 {
					body = append(body, `{"notifications":[`...)
				}
				for i := range n {
					if i > 0 {
						body = append(body, ',')
					}
					body = append(body, `{"asset_id":"bench-asset","partners":["bench"],"idempotency_key":"`...)
					body = append(body, l.prefix...)
					body = strconv.AppendInt(body, int64(first+i), 10)
					body = append(body, `"}`...)
					nums = append(nums, first+i)
				}
				if l.batch > 0 {
					body = append(body, `]}`...)
				}
				req, _ := http.NewRequestWithContext(ctx, "POST", target, bytes.NewReader(body))
				req.Header["Authorization"] = []string{auth}
				req.Header["Content-Type"] = []string{"application/json"}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					cs.err = err
					return
				}
				buf = buf[:0]
				buf, err = readAll(resp.Body, buf)
				resp.Body.Close()
				cs.latencies = append(cs.latencies, time.Since(t0))
				cs.requests++
				cs.sent += n
				if err != nil {
					cs.err = err
					return
				}
				if resp.StatusCode != http.StatusAccepted {
					cs.refused++
					continue
				}
				if l.batch == 0 {
					cs.acked = append(cs.acked, nums...)
					continue
				}
				if ok, err := batchAcked(buf, n); err != nil {
					cs.err = err
					return
				} else {
					for i, acc := range ok {
						if acc {
							cs.acked = append(cs.acked, nums[i])
						} else {
							cs.refused++
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	var st loadStats
	st.elapsed = time.Since(start)
	for _, cs := range stats {
		if cs.err != nil {
			return st, fmt.Errorf("bench intake: %w", cs.err)
		}
		st.acked = append(st.acked, cs.acked...)
		st.latencies = append(st.latencies, cs.latencies...)
		st.requests += cs.requests
		st.sent += cs.sent
		st.refused += cs.refused
	}
	return st, nil
}

// batchAcked reads which entries of a batch answer were accepted. The
// bare handler's answer has no results: it counts as all accepted.
func batchAcked(body []byte, n int) ([]bool, error) {
	var resp struct {
		Results []struct {
			Index  int    `json:"index"`
			Status string `json:"status"`
		} `json:"results"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, fmt.Errorf("batch answer: %w", err)
	}
	ok := make([]bool, n)
	if resp.Results == nil {
		for i := range ok {
			ok[i] = true
		}
		return ok, nil
	}
	for _, r := range resp.Results {
		if r.Index >= 0 && r.Index < n && r.Status == "accepted" {
			ok[r.Index] = true
		}
	}
	return ok, nil
}

func readAll(r io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// bareServer is the anchor: net/http on loopback with a handler that reads
// the body and answers a fixed 202.
type bareSrv struct {
	URL string
	srv *http.Server
}

func (b *bareSrv) Close() { _ = b.srv.Close() }

func bareServer() (*bareSrv, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	answer := []byte(`{"status":"accepted"}` + "\n")
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write(answer)
	})}
	go func() { _ = srv.Serve(ln) }()
	return &bareSrv{URL: "http://" + ln.Addr().String(), srv: srv}, nil
}

// freshPostgres creates a database of the bench's own on the server at
// base and returns its URL and a function that drops it.
func freshPostgres(ctx context.Context, base string) (string, func(), error) {
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", nil, fmt.Errorf("bench intake: postgres: %w", err)
	}
	defer conn.Close(ctx)
	name := "syndicate_bench_" + randomHex(6)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, fmt.Errorf("bench intake: create database: %w", err)
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", nil, err
	}
	u.Path = "/" + name
	drop := func() {
		c, err := pgx.Connect(context.Background(), base)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	}
	return u.String(), drop, nil
}
