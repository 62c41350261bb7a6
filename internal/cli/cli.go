// Package cli implements the syndicate command: serve, demo, and the client
// commands that talk to a running server over its HTTP API.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/syndicate-media/syndicate/client"
)

// command is one subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, env *Env, args []string) error
}

var commands = map[string]command{
	"serve":      {"run the server (API + delivery workers)", runServe},
	"demo":       {"deliver a sample catalog to two demo partners, end to end, and check every file", runDemo},
	"notify":     {"ask for an asset to be delivered to partners", runNotify},
	"import":     {"replay a legacy system's notifications (FILE.jsonl, one a line; --dry-run prints the decisions only)", runImport},
	"deliveries": {"list, show, watch, cancel, retry or reprioritize deliveries", runDeliveries},
	"assets":     {"load assets into the built-in catalog (import FILE)", runAssets},
	"partners":   {"create or update partner profiles (apply -f FILE); partner API keys (keys create|list|revoke)", runPartners},
	"package":    {"build a partner's package for an asset into a local folder, without delivering (preview)", runPackage},
	"feedback":   {"report feedback on a delivery as a partner would (send), to test an integration", runFeedback},
	"webhooks":   {"publish events to webhooks or NATS (add|list|test|replay|dead-letters|remove)", runWebhooks},
	"events":     {"print published events, one a line (--after N, --follow)", runEvents},
	"trace":      {"show a delivery's trace as a waterfall: every step, transfer and answer, with timings", runTrace},
	"transcoder": {"run the reference external transcoding service (ffmpeg) that serve --transcoder-url sends jobs to", runTranscoder},
	"bench":      {"measure delivery speed against rclone (transfer --protocol sftp|s3|ftp|http|local)", runBench},
}

// Env is what a command reads and writes besides its arguments.
type Env struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
}

// Main runs the command line and returns the exit status.
func Main(args []string) int {
	env := &Env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, env, args)
}

// Run runs one command line in env.
func Run(ctx context.Context, env *Env, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(env.Stdout)
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(env.Stderr, "syndicate: unknown command %q\n\n", args[0])
		usage(env.Stderr)
		return 2
	}
	err := cmd.run(ctx, env, args[1:])
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	fmt.Fprintf(env.Stderr, "syndicate %s: %v\n", args[0], err)
	return 1
}

// errUsage means the flag package already printed what was wrong.
var errUsage = errors.New("usage")

func usage(w io.Writer) {
	fmt.Fprint(w, "Syndicate delivers media packages to partners.\n\nUsage: syndicate COMMAND [flags]\n\nCommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-11s %s\n", n, commands[n].summary)
	}
	fmt.Fprint(w, "\nRun 'syndicate COMMAND -h' for a command's flags.\n")
}

// newFlags makes a FlagSet whose usage names the command and its synopsis.
func newFlags(env *Env, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "Usage: syndicate %s\n\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	return nil
}

// clientFlags adds --server and --token, defaulting from the environment.
func clientFlags(env *Env, fs *flag.FlagSet) func() *client.Client {
	server := fs.String("server", envOr(env, "SYNDICATE_URL", "http://127.0.0.1:8080"), "server URL (env SYNDICATE_URL)")
	token := fs.String("token", "", "API token (env SYNDICATE_TOKEN)")
	return func() *client.Client {
		t := *token
		if t == "" {
			t = env.Getenv("SYNDICATE_TOKEN")
		}
		return client.New(strings.TrimRight(*server, "/"), t)
	}
}

func envOr(env *Env, key, def string) string {
	if v := env.Getenv(key); v != "" {
		return v
	}
	return def
}
