package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/syndicate-media/syndicate/internal/transcoder/ffmpegsvc"
)

// runTranscoder runs the reference transcoding service (ffmpeg), which
// speaks the external-transcoder protocol: `syndicate serve
// --transcoder-url http://ADDR/jobs` sends it jobs.
func runTranscoder(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 || args[0] != "serve" {
		fmt.Fprintln(env.Stderr, "usage: syndicate transcoder serve [--addr 127.0.0.1:9090]")
		return errUsage
	}
	fs := newFlags(env, "transcoder serve", "transcoder serve [flags]")
	addr := fs.String("addr", "127.0.0.1:9090", "listen address (it takes jobs without a token: keep it on loopback or a private network)")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(env.Stderr, nil))
	svc := &ffmpegsvc.Service{Log: log}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: svc.Handler(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(env.Stdout, "transcoder listening; jobs go to http://%s/jobs\n", ln.Addr())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err := <-done:
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	svc.Close()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
