package bench

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx" for the probe
	_ "modernc.org/sqlite"             // database/sql driver "sqlite" for the probe

	"github.com/syndicate-media/syndicate/internal/intake"
	"github.com/syndicate-media/syndicate/internal/server"
)

// fleet is the servers of one pipeline run: in this process, or child
// processes of the bench's binary.
type fleet struct {
	tmp   string
	urls  []string
	inner []*server.Server
	procs []*serveProc
}

// serveProc is one `syndicate serve` child; restart keeps its address and
// data folder.
type serveProc struct {
	self                         []string
	addr, data, id, dbURL, token string
	logPath                      string
	cmd                          *exec.Cmd
	done                         chan struct{}
}

func startFleet(ctx context.Context, cfg PipelineConfig, tmp, dbURL, token string) (*fleet, error) {
	f := &fleet{tmp: tmp}
	for i := range cfg.Workers {
		id := fmt.Sprintf("bench-p%d", i+1)
		if len(cfg.Self) > 0 {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				f.close()
				return nil, err
			}
			addr := ln.Addr().String()
			ln.Close()
			p := &serveProc{self: cfg.Self, addr: addr, data: f.dataDir(i), id: id, dbURL: dbURL, token: token,
				logPath: filepath.Join(tmp, id+".log")}
			if err := p.start(ctx); err != nil {
				f.close()
				return nil, err
			}
			f.procs = append(f.procs, p)
			f.urls = append(f.urls, "http://"+addr)
			continue
		}
		// The backlog bound is lifted: the single notifications are part
		// of the load, and a 429 would only hide where time goes.
		srv, err := server.Start(ctx, server.Config{DataDir: f.dataDir(i), DatabaseURL: dbURL, Addr: "127.0.0.1:0", Token: token,
			ExecutorID: id, Logger: cfg.Log, AllowPrivateDestinations: true, Intake: intake.Config{MaxBacklog: 10_000_000}})
		if err != nil {
			f.close()
			return nil, fmt.Errorf("bench pipeline: server: %w", err)
		}
		f.inner = append(f.inner, srv)
		f.urls = append(f.urls, srv.URL)
	}
	return f, nil
}

func (f *fleet) dataDir(i int) string { return filepath.Join(f.tmp, fmt.Sprintf("data-%d", i+1)) }

// killAndRestart SIGKILLs child i, waits for it to die and starts it again.
func (f *fleet) killAndRestart(ctx context.Context, i int) error {
	p := f.procs[i]
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	return p.start(ctx)
}

func (f *fleet) close() {
	for _, s := range f.inner {
		_ = s.Close(10 * time.Second)
	}
	for _, p := range f.procs {
		p.stop()
	}
}

func (p *serveProc) start(ctx context.Context) error {
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	args := append(append([]string(nil), p.self[1:]...), "serve", "--addr", p.addr, "--data-dir", p.data,
		"--executor-id", p.id, "--allow-private-destinations", "--max-backlog", "10000000")
	if p.dbURL != "" {
		args = append(args, "--database", p.dbURL)
	}
	cmd := exec.Command(p.self[0], args...)
	cmd.Env = append(os.Environ(), "SYNDICATE_TOKEN="+p.token)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("bench pipeline: start %s: %w", p.id, err)
	}
	logf.Close() // the child holds its own descriptor
	p.cmd, p.done = cmd, make(chan struct{})
	done := p.done
	go func() { _ = cmd.Wait(); close(done) }()
	for {
		if resp, err := http.Get("http://" + p.addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-done:
			b, _ := os.ReadFile(p.logPath)
			return fmt.Errorf("bench pipeline: %s exited: %s", p.id, lastLines(string(b), 5))
		case <-ctx.Done():
			p.stop()
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop ends the child with SIGTERM (SIGKILL after 15 s).
func (p *serveProc) stop() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// openProbe opens the bench's own read connection to the run's database,
// for progress samples and the final checks: a fresh PostgreSQL database,
// or the first server's SQLite file (read-only; WAL readers do not take
// the write lock).
func openProbe(dbURL, sqlitePath string) (*sql.DB, error) {
	if dbURL != "" {
		db, err := sql.Open("pgx", dbURL)
		if err != nil {
			return nil, fmt.Errorf("bench pipeline: probe: %w", err)
		}
		db.SetMaxOpenConns(2)
		return db, nil
	}
	db, err := sql.Open("sqlite", "file:"+sqlitePath+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		return nil, fmt.Errorf("bench pipeline: probe: %w", err)
	}
	db.SetMaxOpenConns(1)
	return db, nil
}
