package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/syndicate-media/syndicate/internal/bench"
)

const benchUsage = `Usage:
  syndicate bench transfer --protocol sftp|s3|ftp|http|local [--size 1GiB] [--runs 3] [--archive tar|tgz|zip]
                           [--rclone PATH] [--target URL --secret REF --host-key SHA256:... | --known-hosts FILE]
  syndicate bench intake [--count 100000] [--duration 0] [--clients 64] [--batch N] [--database postgres://...] [--cpuprofile FILE]
  syndicate bench pipeline [--assets 1000] [--partners 4] [--size 64KiB] [--batch 25] [--clients 32]
                           [--database postgres://...] [--workers 1] [--timeout 10m] [--process [--kill-after N]]
  syndicate bench deliveries [--workers 1,2,3] [--deliveries 200] [--partners 4] [--size 64KiB] [--postgres URL]
  syndicate bench upload-once --target URL [--secret REF ...] [--archive KIND] --name NAME FILE...
                           (the Syndicate side, run by transfer)`

// defaultRclone is where scripts/bench.sh installs rclone.
const defaultRclone = "/var/cache/syndicate/bin/rclone"

func runBench(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(env.Stderr, benchUsage)
		return errUsage
	}
	switch args[0] {
	case "transfer":
		return benchTransfer(ctx, env, args[1:])
	case "upload-once":
		return benchUploadOnce(ctx, env, args[1:])
	case "intake":
		return benchIntake(ctx, env, args[1:])
	case "deliveries":
		return benchDeliveries(ctx, env, args[1:])
	case "pipeline":
		return benchPipeline(ctx, env, args[1:])
	}
	fmt.Fprintf(env.Stderr, "syndicate bench: unknown subcommand %q\n%s\n", args[0], benchUsage)
	return errUsage
}

func benchTransfer(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "bench transfer", "bench transfer --protocol sftp|s3|ftp|http|local [flags]")
	protocol := fs.String("protocol", "", "sftp, s3, ftp, http or local")
	size := fs.String("size", "1GiB", "size of the random file (e.g. 1GiB, 512MiB, 10GiB)")
	runs := fs.Int("runs", 3, "runs; each uploads with Syndicate, rclone default and rclone without checksum")
	rclone := fs.String("rclone", "", "rclone binary (default: rclone on PATH, else "+defaultRclone+")")
	tmp := fs.String("tmp", "", "directory for the generated file (default $TMPDIR or /tmp)")
	kind := fs.String("archive", "", "upload one archive (tar, tgz or zip) of two random files of half the size, built while uploading; rclone uploads the same archive made beforehand")
	rtt := fs.Duration("rtt", 0, "put both sides behind a proxy on 127.0.0.1 that adds this round-trip time (e.g. 20ms): a distant partner")
	var t bench.Target
	t.AddFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *rtt < 0 || *rtt > 2*time.Second {
		return fmt.Errorf("--rtt %s: want 0 to 2s", *rtt)
	}
	names := make([]string, 0, len(bench.Protocols))
	for p := range bench.Protocols {
		names = append(names, p)
	}
	slices.Sort(names)
	if fs.NArg() != 0 || !slices.Contains(names, *protocol) {
		fmt.Fprintf(env.Stderr, "syndicate bench transfer: --protocol must be one of %s\n", strings.Join(names, ", "))
		fs.Usage()
		return errUsage
	}
	n, err := bench.ParseSize(*size)
	if err != nil {
		return err
	}
	bin, err := findRclone(*rclone)
	if err != nil {
		return err
	}
	_, err = bench.Transfer(ctx, bench.Config{Protocol: *protocol, Size: n, Runs: *runs, Archive: *kind, RTT: *rtt, Rclone: bin, Target: t,
		TempDir: *tmp, Getenv: env.Getenv, Out: env.Stdout})
	return err
}

// findRclone resolves the anchor: the speed of Syndicate alone says
// nothing, so transfer refuses to run without rclone.
func findRclone(flagValue string) (string, error) {
	if flagValue != "" {
		if _, err := exec.LookPath(flagValue); err != nil {
			return "", fmt.Errorf("--rclone %s: %w", flagValue, err)
		}
		return flagValue, nil
	}
	if p, err := exec.LookPath("rclone"); err == nil {
		return p, nil
	}
	if _, err := os.Stat(defaultRclone); err == nil {
		return defaultRclone, nil
	}
	return "", errors.New("rclone not found on PATH or at " + defaultRclone + ": run scripts/bench.sh (it builds it) or pass --rclone PATH")
}

func benchUploadOnce(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "bench upload-once", "bench upload-once --target URL [flags] --name NAME FILE...")
	var t bench.Target
	t.AddFlags(fs)
	name := fs.String("name", "", "name to upload to, relative to the target")
	kind := fs.String("archive", "", "upload the files as one archive (tar, tgz, zip) built while uploading, as a delivery with package.archive does")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the upload to this file (go tool pprof reads it)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if t.URL == "" || *name == "" || fs.NArg() < 1 || (*kind == "" && fs.NArg() != 1) {
		fs.Usage()
		return errUsage
	}
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	log := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	r, err := bench.UploadOnce(ctx, t, *kind, fs.Args(), *name, log)
	if err != nil {
		return err
	}
	return json.NewEncoder(env.Stdout).Encode(r)
}

func benchIntake(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "bench intake", "bench intake [flags]")
	count := fs.Int("count", 100_000, "notifications to send (0: until --duration)")
	duration := fs.Duration("duration", 0, "stop after this long (0: after --count)")
	clients := fs.Int("clients", 64, "concurrent keep-alive clients")
	batch := fs.Int("batch", 0, "send batches of N through POST /v1/notifications:batch (0: one notification a request)")
	database := fs.String("database", "", "PostgreSQL server to run on (a fresh database is created and dropped); empty: SQLite in a temporary directory")
	backlog := fs.Int("max-backlog", 10_000_000, "the server's backlog bound")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the intake run to this file (go tool pprof)")
	tmp := fs.String("tmp", "", "directory for the SQLite database (default $TMPDIR or /tmp)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 || (*count <= 0 && *duration <= 0) || *clients <= 0 || *batch < 0 {
		fs.Usage()
		return errUsage
	}
	log := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	_, err := bench.Intake(ctx, bench.IntakeConfig{Count: *count, Duration: *duration, Clients: *clients, Batch: *batch,
		DatabaseURL: *database, MaxBacklog: *backlog, CPUProfile: *cpuprofile, TempDir: *tmp, Out: env.Stdout, Log: log})
	return err
}

func benchDeliveries(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "bench deliveries", "bench deliveries [flags]")
	workers := fs.String("workers", "1,2,3", "worker process counts to measure, comma-separated (1-8 each); one line per count")
	n := fs.Int("deliveries", 200, "deliveries per worker count (1-5000)")
	partners := fs.Int("partners", 4, "local-folder partners the deliveries are spread over (each runs up to 8 at once)")
	size := fs.String("size", "64KiB", "size of each delivery's media file (at most 64MiB)")
	pg := fs.String("postgres", envOr(env, "SYNDICATE_TEST_POSTGRES", "postgres://127.0.0.1:5432/test?sslmode=disable"),
		"PostgreSQL admin URL; each worker count runs in a fresh database on that server, dropped afterwards (env SYNDICATE_TEST_POSTGRES)")
	timeout := fs.Duration("timeout", 10*time.Minute, "limit for each worker count's run")
	tmp := fs.String("tmp", "", "directory for data folders and partner folders (default $TMPDIR or /tmp)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return errUsage
	}
	var counts []int
	for _, w := range splitList(*workers) {
		c, err := strconv.Atoi(w)
		if err != nil {
			return fmt.Errorf("--workers %q: want numbers like 1,2,3", *workers)
		}
		counts = append(counts, c)
	}
	sz, err := bench.ParseSize(*size)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "bench deliveries: %d deliveries of %s to %d local-folder partners, %d CPU cores shared by PostgreSQL, the api process and the workers\n",
		*n, *size, *partners, runtime.NumCPU())
	_, err = bench.Deliveries(ctx, bench.DeliveriesConfig{Workers: counts, Deliveries: *n, Partners: *partners, Size: sz,
		Postgres: *pg, Timeout: *timeout, TempDir: *tmp, Out: env.Stdout})
	return err
}

func benchPipeline(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "bench pipeline", "bench pipeline [flags]")
	assets := fs.Int("assets", 1000, "assets, each with its own media file; every asset goes to every partner")
	partners := fs.Int("partners", 4, "local-folder partners (format json, concurrency 8), 1-32")
	size := fs.String("size", "64KiB", "size of each asset's media file (at most 64MiB)")
	batch := fs.Int("batch", 25, "assets per POST /v1/notifications:batch (each entry names every partner)")
	clients := fs.Int("clients", 32, "connections sending single POST /v1/notifications for assets already notified, all through the run (0: none)")
	database := fs.String("database", "", "PostgreSQL server to run on (fresh databases are created and dropped); empty: SQLite in a temporary directory")
	workers := fs.Int("workers", 1, "servers sharing the database (PostgreSQL only), notifications spread over them")
	timeout := fs.Duration("timeout", 10*time.Minute, "limit for the whole run: on timeout the line shows what was delivered and the exit is non-zero")
	process := fs.Bool("process", false, "run the servers as child processes (syndicate serve) instead of in this process")
	killAfter := fs.Int("kill-after", 0, "crash test (with --process): SIGKILL the first server once this many deliveries are done, then restart it on the same data folder")
	tmp := fs.String("tmp", "", "directory for data folders, media and partner folders (default $TMPDIR or /tmp)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run (server and load, when in this process) to this file (go tool pprof reads it)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 || *assets <= 0 || *partners <= 0 || *batch <= 0 || *clients < 0 || *workers <= 0 || *killAfter < 0 {
		fs.Usage()
		return errUsage
	}
	if *killAfter > 0 && !*process {
		return errors.New("--kill-after needs --process")
	}
	sz, err := bench.ParseSize(*size)
	if err != nil {
		return err
	}
	cfg := bench.PipelineConfig{Assets: *assets, Partners: *partners, Size: sz, Batch: *batch, Clients: *clients, NoSingles: *clients == 0,
		DatabaseURL: *database, Workers: *workers, Timeout: *timeout, KillAfter: *killAfter, TempDir: *tmp, Out: env.Stdout,
		Log: slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	if *process {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		cfg.Self = []string{exe}
	}
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	_, err = bench.Pipeline(ctx, cfg)
	return err
}

// startCPUProfile profiles this process into file until stop is called.
func startCPUProfile(file string) (stop func(), err error) {
	f, err := os.Create(file)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); _ = f.Close() }, nil
}
