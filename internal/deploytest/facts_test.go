package deploytest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/internal/cli"
	"github.com/syndicate-media/syndicate/internal/server"
)

// facts is what the code says, found by running it.
type facts struct {
	// flags is every flag of `syndicate serve`, and whether it takes a value.
	flags map[string]bool
	// env is every SYNDICATE_* variable serve reads for its flags' defaults
	// or names in its usage text.
	env map[string]bool
	// up is a running server's base URL; down is one whose database is
	// closed, to tell liveness (must not care) from readiness (must).
	up, down string
	client   *http.Client
}

var (
	flagLine = regexp.MustCompile(`(?m)^  -([A-Za-z0-9][A-Za-z0-9_.-]*)(?:[ \t]+(\S+))?[ \t]*$`)
	envName  = regexp.MustCompile(`SYNDICATE_[A-Z0-9_]+`)
)

// serveFacts runs `syndicate serve -h` in-process and reads its flags from
// the usage text; the env names are the ones serve looked up while defining
// its flags (recorded through Env.Getenv) plus any its usage text names.
func serveFacts(t *testing.T) (flags, env map[string]bool) {
	t.Helper()
	var out bytes.Buffer
	env = map[string]bool{}
	getenv := func(name string) string {
		if strings.HasPrefix(name, "SYNDICATE_") {
			env[name] = true
		}
		return ""
	}
	if code := cli.Run(context.Background(), &cli.Env{Stdout: &out, Stderr: &out, Getenv: getenv}, []string{"serve", "-h"}); code != 0 {
		t.Fatalf("syndicate serve -h: exit %d\n%s", code, out.String())
	}
	flags = map[string]bool{}
	for _, m := range flagLine.FindAllStringSubmatch(out.String(), -1) {
		flags[m[1]] = m[2] != ""
	}
	for _, n := range envName.FindAllString(out.String(), -1) {
		env[n] = true
	}
	if len(flags) == 0 || len(env) == 0 {
		t.Fatalf("read no flags or env names from syndicate serve -h:\n%s", out.String())
	}
	return flags, env
}

// startServer starts a Syndicate on SQLite in a temporary folder and
// returns its base URL.
func startServer(t *testing.T, closeDB bool) string {
	t.Helper()
	srv, err := server.Start(context.Background(), server.Config{
		DataDir: t.TempDir(), Addr: "127.0.0.1:0", Token: "deploytest-token-0123456789",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close(5 * time.Second) })
	if closeDB {
		// The database goes away under a running server, as in an outage.
		_ = srv.Store.DB.Close()
	}
	return srv.URL
}

// newClient does not follow redirects: the web UI redirects unknown paths
// to its login page, and a kubelet counts any 2xx or 3xx as healthy, so a
// mistyped probe path would pass for ever without checking anything.
func newClient() *http.Client {
	return &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// get answers the status of GET base+path, and whether the answer is the
// API's JSON (the UI answers HTML).
func (f *facts) get(base, path string) (code int, api bool, err error) {
	resp, err := f.client.Get(base + path)
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json"), nil
}

// parseServe checks args (a container's args or the image's CMD) the way
// `syndicate serve` parses them and returns the flags' values. serve takes
// no positional arguments, and the flag package stops at the first one, so
// any is refused here; then the real parser checks names and values by
// running the args with -h appended (it stops at -h: no server starts).
func (f *facts) parseServe(args []string) (map[string]string, error) {
	if len(args) == 0 || args[0] != "serve" {
		return nil, fmt.Errorf("args %q: want \"serve\" first", args)
	}
	vals := map[string]string{}
	for i := 1; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" || a == "--" {
			return nil, fmt.Errorf("args %q: %q is not a flag, and serve takes no arguments", args, a)
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		takesValue, ok := f.flags[name]
		switch {
		case !ok:
			return nil, fmt.Errorf("args %q: syndicate serve has no flag -%s", args, name)
		case takesValue && !hasVal:
			if i+1 == len(args) {
				return nil, fmt.Errorf("args %q: -%s needs a value", args, name)
			}
			i++
			val = args[i]
		case !takesValue && !hasVal:
			val = "true"
		}
		vals[name] = val
	}
	var out bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // belt and braces: nothing may start
	run := append(slices.Clone(args), "-h")
	if code := cli.Run(ctx, &cli.Env{Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }}, run); code != 0 {
		msg, _, _ := strings.Cut(out.String(), "\n")
		return nil, fmt.Errorf("syndicate %s: exit %d: %s", strings.Join(run, " "), code, msg)
	}
	return vals, nil
}
