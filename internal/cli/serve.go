package cli

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/syndicate-media/syndicate/internal/catalog"
	"github.com/syndicate-media/syndicate/internal/intake"
	"github.com/syndicate-media/syndicate/internal/server"
	"github.com/syndicate-media/syndicate/internal/workflow"
)

func runServe(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "serve", "serve [flags]")
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	dataDir := fs.String("data-dir", "./syndicate-data", "directory for the SQLite database and work files")
	database := fs.String("database", env.Getenv("SYNDICATE_DATABASE_URL"), "postgres://... to use PostgreSQL instead of SQLite (env SYNDICATE_DATABASE_URL)")
	token := fs.String("token", env.Getenv("SYNDICATE_TOKEN"), "accept this API token (env SYNDICATE_TOKEN); if no token exists one is generated and printed once")
	allowPrivate := fs.Bool("allow-private-destinations", envOr(env, "SYNDICATE_ALLOW_PRIVATE_DESTINATIONS", "") == "true",
		"let partner destinations be loopback or private-network hosts (refused by default)")
	allowed := fs.String("allow-destinations", env.Getenv("SYNDICATE_ALLOW_DESTINATIONS"),
		"comma-separated allowlist of destination hosts (names, *.domain, CIDRs) and S3 buckets (s3://BUCKET on AWS, s3://BUCKET@HOST on an endpoint) (default: any public host)")
	executor := fs.String("executor-id", envOr(env, "SYNDICATE_EXECUTOR_ID", server.DefaultExecutorID()),
		"stable name of this process (env SYNDICATE_EXECUTOR_ID; default the host name); a restart with the same name resumes its unfinished deliveries")
	role := fs.String("role", envOr(env, "SYNDICATE_ROLE", "all"), "all, worker (runs deliveries) or api (accepts them; workers run them) (env SYNDICATE_ROLE)")
	heartbeat := fs.Duration("heartbeat", 5*time.Second, "heartbeat interval")
	deadAfter := fs.Duration("dead-after", 30*time.Second, "a worker silent this long is taken over by a live one")
	transcoderURL := fs.String("transcoder-url", env.Getenv("SYNDICATE_TRANSCODER_URL"),
		"external transcoding service's job endpoint, for profiles with package.video.transcoder: external (env SYNDICATE_TRANSCODER_URL)")
	publicURL := fs.String("public-url", env.Getenv("SYNDICATE_PUBLIC_URL"),
		"this API's public base URL, for transcoder callbacks (env SYNDICATE_PUBLIC_URL; default the listen address)")
	configFile := fs.String("config", env.Getenv("SYNDICATE_CONFIG"),
		"YAML (or JSON) file with a catalog: section choosing builtin, http or graphql (env SYNDICATE_CONFIG; default: the built-in catalog)")
	natsConsumer := fs.String("nats-consumer", env.Getenv("SYNDICATE_NATS_CONSUMER"),
		"take notifications from NATS JetStream: nats://host:4222?stream=S&subject=notify.in&durable=syndicate[&dead_letter_subject=…&batch=10&max_deliver=5&ack_wait=60s&credentials=env:NAME] (env SYNDICATE_NATS_CONSUMER)")
	sqsConsumer := fs.String("sqs-consumer", env.Getenv("SYNDICATE_SQS_CONSUMER"),
		"take notifications from AWS SQS: QUEUE_URL?dead_letter=DLQ_URL[&region=…&endpoint=http://host:port&credentials=env:NAME&batch=10&wait=20s&visibility=60s&max_receives=N] (env SYNDICATE_SQS_CONSUMER)")
	concurrency := fs.Int("concurrency", workflow.DefaultConcurrency,
		"deliveries this process runs at once per partner concurrency level (partners' own concurrency limits each partner)")
	maxBacklog := fs.Int("max-backlog", 100_000, "accepted notifications waiting for a decision before new ones get 429 (negative: no bound)")
	blobURL := fs.String("blob", env.Getenv("SYNDICATE_BLOB_URL"),
		"blob store all workers share for deliveries' working files: file:///dir or s3://bucket?region=…&endpoint=… (env SYNDICATE_BLOB_URL; default none: a taken-over delivery renders its metadata again and cannot reuse a transcode)")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadServeConfig(*configFile)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(env.Stderr, nil))
	srv, err := server.Start(ctx, server.Config{DataDir: *dataDir, DatabaseURL: *database, Addr: *addr,
		Token: *token, ExecutorID: *executor, Role: *role, HeartbeatInterval: *heartbeat, DeadAfter: *deadAfter,
		Logger: log, AllowPrivateDestinations: *allowPrivate,
		AllowedDestinations: splitList(*allowed), Catalog: cfg.Catalog, TranscoderURL: *transcoderURL, PublicURL: *publicURL,
		NATSConsumer: *natsConsumer, SQSConsumer: *sqsConsumer, Intake: intake.Config{MaxBacklog: *maxBacklog}, BlobURL: *blobURL,
		Concurrency: *concurrency})
	if err != nil {
		return err
	}
	log.Info("syndicate serving", "url", srv.URL, "database", string(srv.Store.Dialect), "executor_id", *executor, "role", *role,
		"catalog", catalogKind(cfg.Catalog))
	if srv.NewToken != "" {
		fmt.Fprintf(env.Stdout, "Generated the first API token (shown once, stored hashed):\n  export SYNDICATE_TOKEN=%s\n", srv.NewToken)
	}
	select {
	case <-ctx.Done():
	case err := <-waitErr(srv):
		return err
	}
	log.Info("shutting down; unfinished deliveries resume at the next start")
	return srv.Close(10 * time.Second)
}

func waitErr(srv *server.Server) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- srv.Wait() }()
	return ch
}

func catalogKind(c catalog.Config) string {
	if c.Kind == "" {
		return "builtin"
	}
	return c.Kind
}
