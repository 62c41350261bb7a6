// Package server assembles a running Syndicate: store, workflow engine,
// intake, HTTP API and the optional queue consumers (NATS JetStream, SQS),
// with the API token bootstrapped on first start.
// `syndicate serve` and `syndicate demo` both start one.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/syndicate-media/syndicate/internal/api"
	"github.com/syndicate-media/syndicate/internal/catalog"
	"github.com/syndicate-media/syndicate/internal/cluster"
	"github.com/syndicate-media/syndicate/internal/consumer"
	"github.com/syndicate-media/syndicate/internal/event"
	"github.com/syndicate-media/syndicate/internal/feedback"
	"github.com/syndicate-media/syndicate/internal/intake"
	"github.com/syndicate-media/syndicate/internal/secret"
	"github.com/syndicate-media/syndicate/internal/store"
	"github.com/syndicate-media/syndicate/internal/telemetry"
	"github.com/syndicate-media/syndicate/internal/transport"
	"github.com/syndicate-media/syndicate/internal/ui"
	"github.com/syndicate-media/syndicate/internal/workfiles"
	"github.com/syndicate-media/syndicate/internal/workflow"
)

// Config says where the server keeps state and listens.
type Config struct {
	DataDir     string
	DatabaseURL string
	// Addr is host:port to listen on; port 0 picks a free one.
	Addr string
	// Token, if set, is accepted as an API token (stored hashed).
	Token      string
	ExecutorID string
	// Role is all (default), worker (runs deliveries) or api (accepts and
	// controls them; other processes run them). Every role serves the API.
	Role string
	// HeartbeatInterval and DeadAfter tune dead-worker takeover (5s, 30s).
	HeartbeatInterval, DeadAfter time.Duration
	Logger                       *slog.Logger
	// SweepInterval is how often ack timeouts and receipt files are
	// checked (default 30s).
	SweepInterval time.Duration
	// AllowPrivateDestinations lets partners' destinations be loopback or
	// private-network hosts (refused by default).
	AllowPrivateDestinations bool
	// AllowedDestinations, when set, is the only hosts (names, *.domain,
	// CIDRs) and S3 buckets (s3://BUCKET, s3://BUCKET@HOST) destinations
	// may use (see transport.Policy).
	AllowedDestinations []string
	// DestinationResolver looks destination host names up for the
	// destination policy; nil is the system resolver. Tests set one that
	// records and refuses lookups.
	DestinationResolver transport.Resolver
	// TranscoderURL is the external transcoding service's job endpoint.
	TranscoderURL string
	// PublicURL is the API's base URL as the transcoder reaches it
	// (default: the listen address).
	PublicURL string
	// Catalog selects where assets come from (default: the built-in
	// catalog, Syndicate's own store).
	Catalog catalog.Config
	// NATSConsumer, if set, takes notifications from a NATS JetStream
	// stream (natsq.ParseURL: nats://host:4222?stream=…&subject=…&durable=…).
	NATSConsumer string
	// SQSConsumer, if set, takes notifications from an SQS queue
	// (sqsq.ParseURL: the queue URL?dead_letter=…).
	SQSConsumer string
	// Intake tunes notification intake: the backlog bound (MaxBacklog,
	// default 100,000), group commit and deciders. Owner defaults to
	// ExecutorID.
	Intake intake.Config
	// Assets, when set, is used as the catalog instead of opening the one
	// Catalog configures (tests use it to put a failing catalog in).
	Assets catalog.Catalog
	// BlobURL is a blob store shared by every worker for deliveries'
	// working files (file:///dir or s3://bucket?…; empty: none), so one
	// that takes a delivery over fetches them instead of making them again.
	BlobURL string
	// Concurrency is how many deliveries of one partner concurrency level
	// this process runs at once (default workflow.DefaultConcurrency).
	Concurrency int
}

// Server is a started Syndicate.
type Server struct {
	Store  *store.Store
	Engine *workflow.Engine
	// Telemetry holds the tracer provider (spans to syn_spans, and OTLP if
	// configured) and the metrics.
	Telemetry *telemetry.Telemetry
	// URL is the API's base URL, e.g. http://127.0.0.1:8080.
	URL string
	// NewToken is set when this start generated the first API token; it is
	// shown once and only its hash is kept.
	NewToken string
	// lock holds the data folder for this process (lockDataDir).
	lock *os.File
	// Intake accepts and decides notifications.
	Intake *intake.Service
	http   *http.Server
	done   chan error
	blob   *workfiles.Store

	// Background loops (feedback sweeper, event dispatcher) run under
	// bgCtx; Close cancels it and waits for them before closing the store.
	bgCtx    context.Context
	bgCancel context.CancelFunc
	bg       sync.WaitGroup
}

// background runs fn in a goroutine until Close.
func (s *Server) background(fn func(ctx context.Context)) {
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		fn(s.bgCtx)
	}()
}

// Start opens the store, launches the engine (recovering unfinished
// deliveries), and serves the API.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	s, err := start(ctx, cfg, lock)
	if err != nil {
		lock.Close()
	}
	return s, err
}

func start(ctx context.Context, cfg Config, lock *os.File) (*Server, error) {
	if cfg.Role == "" {
		cfg.Role = "all"
	}
	if cfg.Role != "all" && cfg.Role != "api" && cfg.Role != "worker" {
		return nil, fmt.Errorf("role %q: want all, api or worker", cfg.Role)
	}
	if cfg.ExecutorID == "" {
		cfg.ExecutorID = DefaultExecutorID()
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = slog.New(telemetry.LogHandler(log.Handler())) // trace_id and span_id on records logged with a span's context
	st, err := store.Open(ctx, store.Config{DataDir: cfg.DataDir, DatabaseURL: cfg.DatabaseURL})
	if err != nil {
		return nil, err
	}
	s := &Server{Store: st, done: make(chan error, 1), lock: lock}
	assets := cfg.Assets
	if assets == nil {
		if assets, err = catalog.Open(cfg.Catalog, catalog.Deps{Store: st}); err != nil {
			st.Close()
			return nil, err
		}
	}
	policy := &transport.Policy{AllowPrivate: cfg.AllowPrivateDestinations, Hosts: cfg.AllowedDestinations,
		Resolver: cfg.DestinationResolver}
	if err := policy.Validate(); err != nil {
		st.Close()
		return nil, err
	}
	s.bgCtx, s.bgCancel = context.WithCancel(context.WithoutCancel(ctx))
	if err := s.bootstrapToken(ctx, cfg.Token); err != nil {
		st.Close()
		return nil, err
	}
	if s.Telemetry, err = telemetry.Start(ctx, telemetry.Config{Store: st, Log: log, Process: cfg.ExecutorID}); err != nil {
		st.Close()
		return nil, err
	}
	decider := workflow.NewLateRedecider() // intake needs the engine; rights-window wake-ups need intake
	if s.blob, err = workfiles.Open(ctx, cfg.BlobURL); err != nil {
		_ = s.Telemetry.Close()
		st.Close()
		return nil, err
	}
	member := &cluster.Member{Store: st, ExecutorID: cfg.ExecutorID, Role: cfg.Role, Log: log,
		Interval: cfg.HeartbeatInterval, DeadAfter: cfg.DeadAfter}
	var lease workflow.Lease
	if st.Dialect == store.Postgres && cfg.Role != "api" {
		lease = member // workers share the database: fence off work another may take over
	}
	// Listen before the engine starts: workflows it recovers may submit a
	// transcode job at once, and the job's callback URL is this address
	// unless --public-url says otherwise.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		s.closeBlob()
		_ = s.Telemetry.Close()
		st.Close()
		return nil, fmt.Errorf("listen %s: %w", cfg.Addr, err)
	}
	s.URL = "http://" + ln.Addr().String()
	callbackBase := cfg.PublicURL
	if callbackBase == "" {
		callbackBase = s.URL
	}
	s.Engine, err = workflow.New(ctx, st, workflow.Config{
		WorkDir: filepath.Join(cfg.DataDir, "work"), ExecutorID: cfg.ExecutorID, Logger: log, Policy: policy, Concurrency: cfg.Concurrency,
		APIOnly: cfg.Role == "api", Telemetry: s.Telemetry, Redecider: decider,
		Transcoder: workflow.TranscoderConfig{URL: cfg.TranscoderURL, CallbackBase: callbackBase}, Blob: s.blob, Lease: lease,
	})
	if err != nil {
		ln.Close()
		s.closeBlob()
		_ = s.Telemetry.Close()
		st.Close()
		return nil, err
	}
	if cfg.Intake.Owner == "" {
		cfg.Intake.Owner = cfg.ExecutorID
	}
	in := &intake.Service{Store: st, Catalog: assets, Engine: s.Engine, Telemetry: s.Telemetry, Log: log, Config: cfg.Intake}
	decider.Bind(in)
	if err := in.Start(ctx); err != nil {
		ln.Close()
		_ = s.Engine.Shutdown(time.Second)
		s.closeBlob()
		_ = s.Telemetry.Close()
		st.Close()
		return nil, fmt.Errorf("intake: %w", err)
	}
	s.Intake = in
	cm := consumer.NewMetrics()
	_ = s.Telemetry.Metrics().Register(cm)
	consumers, err := openConsumers(ctx, cfg, intakeSink{in: in, metrics: s.Telemetry.Metrics()}, log, cm)
	if err != nil {
		in.Stop()
		ln.Close()
		_ = s.Engine.Shutdown(time.Second)
		s.closeBlob()
		_ = s.Telemetry.Close()
		st.Close()
		return nil, err
	}
	for _, r := range consumers {
		s.background(runConsumer(r, log))
	}
	fb := &feedback.Service{Store: st, Engine: s.Engine, Log: log, Policy: policy, Telemetry: s.Telemetry}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = 30 * time.Second
	}
	s.background(func(ctx context.Context) { fb.RunSweeper(ctx, cfg.SweepInterval) })
	member.Engine = s.Engine
	s.background(member.Run)
	s.background((&event.Dispatcher{Store: st, Log: log}).Run)
	h := (&api.Server{Store: st, Intake: in, Feedback: fb, Control: s.Engine, Log: log, Telemetry: s.Telemetry,
		Callbacks: s.Engine, CatalogKind: externalKind(cfg.Catalog)}).Handler()
	web := ui.New(st, s.Engine, log) // the operator web UI at /; the API keeps /v1/, /healthz, /readyz
	root := http.NewServeMux()
	root.Handle("/metrics", h) // Prometheus scrapes the API's /metrics; the UI has every other path outside the API
	root.Handle("/", web.Handler(h))
	s.http = &http.Server{Handler: noSniff(root), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute}
	s.http.RegisterOnShutdown(web.Close)
	go func() { s.done <- s.http.Serve(ln) }()
	return s, nil
}

// noSniff tells browsers to take every answer (API JSON, UI pages, static
// files, metrics) as the type it declares, never to guess a script or a
// page from its bytes.
func noSniff(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		h.ServeHTTP(w, r)
	})
}

func (s *Server) bootstrapToken(ctx context.Context, token string) error {
	if token != "" {
		if len(token) < 16 {
			return errors.New("api token: at least 16 characters")
		}
		return s.Store.AddToken(ctx, secret.HashToken(token), "configured")
	}
	n, err := s.Store.CountTokens(ctx)
	if err != nil || n > 0 {
		return err
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	s.NewToken = "syn_" + hex.EncodeToString(b)
	return s.Store.AddToken(ctx, secret.HashToken(s.NewToken), "generated")
}

// Wait blocks until the HTTP server stops.
func (s *Server) Wait() error { return <-s.done }

// Close stops the API, lets running steps finish for up to timeout (the
// rest resume at the next start) and closes the database.
func (s *Server) Close(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := s.http.Shutdown(ctx)
	s.Intake.Stop() // after the API: what it accepted is committed first
	s.bgCancel()
	s.bg.Wait()
	// On SQLite the engine's shutdown closes the database handle it shares
	// with the store: write the spans ended so far first.
	err = errors.Join(err, s.Telemetry.ForceFlush(ctx))
	err = errors.Join(err, s.Engine.Shutdown(timeout))
	s.closeBlob()
	err = errors.Join(err, s.Telemetry.Close()) // the last spans, before the store closes (PostgreSQL)
	err = errors.Join(err, s.Store.Close())
	s.lock.Close() // the data folder is free for the next server
	return err
}

// externalKind is the catalog's kind unless it is the built-in one.
func externalKind(c catalog.Config) string {
	if c.Kind == "builtin" {
		return ""
	}
	return c.Kind
}

func (s *Server) closeBlob() {
	if s.blob != nil {
		_ = s.blob.Close()
	}
}

// DefaultExecutorID is the host name: stable across restarts of the same
// machine or pod, which is what recovery needs.
func DefaultExecutorID() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "local"
}
