package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/syndicate-media/syndicate/internal/transport"
	"github.com/syndicate-media/syndicate/internal/workflow"
)

// Config is one `syndicate bench transfer`.
type Config struct {
	Protocol string
	Size     int64
	Runs     int
	// Rclone is the rclone binary; "" runs the Syndicate side only.
	Rclone string
	// Target is where to upload; an empty URL means DefaultTarget.
	Target Target
	// Self runs `syndicate bench upload-once`: the binary and the words
	// before the flags. SelfEnv is added to its environment.
	Self    []string
	SelfEnv []string
	// TempDir holds the generated file (default os.TempDir()).
	TempDir string
	// Getenv looks up defaults (default os.Getenv).
	Getenv func(string) string
	// Out receives a line per upload and the summary.
	Out io.Writer
}

// Report is what `syndicate bench upload-once` prints, as one JSON line.
type Report struct {
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
	SHA256  string  `json:"sha256"`
	// MaxRSS is the uploader's own peak RSS in bytes (VmHWM), read at exit.
	MaxRSS int64 `json:"max_rss"`
}

// UploadOnce is the Syndicate side, run in a child process: it opens the
// transport for t and sends file to name exactly as a delivery sends a
// file (workflow.Upload), timing both.
func UploadOnce(ctx context.Context, t Target, file, name string, log *slog.Logger) (Report, error) {
	opts, err := t.Options()
	if err != nil {
		return Report{}, err
	}
	start := time.Now()
	tr, err := transport.Open(ctx, t.URL, opts)
	if err != nil {
		return Report{}, err
	}
	defer tr.Close()
	sum, err := workflow.Upload(ctx, log, tr, name, file, 0)
	if err != nil {
		return Report{}, err
	}
	elapsed := time.Since(start)
	fi, err := os.Stat(file)
	if err != nil {
		return Report{}, err
	}
	return Report{Bytes: fi.Size(), Seconds: elapsed.Seconds(), SHA256: sum, MaxRSS: SelfPeakRSS()}, nil
}

// side is one of the three ways a run uploads.
type side int

const (
	sideSyndicate side = iota
	sideRclone
	sideRcloneFast
)

func (s side) String() string {
	return [...]string{"syndicate", "rclone default", "rclone no-checksum"}[s]
}

func (s side) file(run int) string {
	return fmt.Sprintf("bench-%s-%d.bin", [...]string{"syndicate", "rclone", "rclone-nocheck"}[s], run)
}

// Transfer runs the benchmark and returns the medians; it prints each
// upload and, at the end, Summary.Line and Summary.RSSLine to cfg.Out.
// Everything it uploaded is removed, and so is its temporary directory.
func Transfer(ctx context.Context, cfg Config) (sum Summary, err error) {
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.Getenv == nil {
		cfg.Getenv = os.Getenv
	}
	if cfg.Runs < 1 {
		return sum, errors.New("runs must be at least 1")
	}
	if cfg.Size < 1 {
		return sum, errors.New("size must be at least 1 byte")
	}
	if _, ok := Protocols[cfg.Protocol]; !ok {
		return sum, fmt.Errorf("unknown protocol %q (have sftp, s3, ftp, http, local)", cfg.Protocol)
	}
	if len(cfg.Self) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return sum, err
		}
		cfg.Self = []string{exe, "bench", "upload-once"}
	}
	t := cfg.Target
	if t.URL == "" {
		if t, err = DefaultTarget(cfg.Protocol, cfg.Getenv); err != nil {
			return sum, err
		}
	}
	work, err := os.MkdirTemp(cfg.TempDir, "syndicate-bench-")
	if err != nil {
		return sum, err
	}
	defer func() {
		if rerr := os.RemoveAll(work); rerr != nil && err == nil {
			err = rerr
		}
	}()
	if cfg.Protocol == "local" && t.URL == "" {
		t.URL = "file://" + filepath.ToSlash(filepath.Join(work, "dest"))
	}
	u, err := t.check(cfg.Protocol)
	if err != nil {
		return sum, err
	}

	// One connection for cleaning up, opened before any upload so a bad
	// target fails before the source file is written.
	opts, err := t.Options()
	if err != nil {
		return sum, err
	}
	tr, err := transport.Open(ctx, t.URL, opts)
	if err != nil {
		return sum, fmt.Errorf("open %s: %w", u.Redacted(), err)
	}
	defer tr.Close()
	var rc *rcloneRemote
	if cfg.Rclone != "" {
		if rc, err = newRcloneRemote(ctx, cfg.Rclone, cfg.Protocol, t, u, work); err != nil {
			return sum, err
		}
	}

	src := filepath.Join(work, "source.bin")
	if err := writeRandom(src, cfg.Size); err != nil {
		return sum, err
	}
	fmt.Fprintf(cfg.Out, "bench transfer %s: %s random file, %d runs, to %s; %d CPUs%s\n",
		cfg.Protocol, formatBytes(cfg.Size), cfg.Runs, u.Redacted(), runtime.NumCPU(), rcloneVersion(ctx, cfg.Rclone))

	if rc != nil {
		switch hs, err := rc.hashes(ctx); {
		case err != nil:
			fmt.Fprintf(cfg.Out, "  rclone's checksums on the target: unknown (%v)\n", err)
		case len(hs) == 0:
			fmt.Fprintln(cfg.Out, "  rclone can read no checksum on the target: its default run checks only the size, as with "+strings.Join(rc.fast, " "))
		default:
			fmt.Fprintf(cfg.Out, "  rclone's checksums on the target: %s (its default run verifies with the first both sides have)\n", strings.Join(hs, ", "))
		}
	}
	sides := []side{sideSyndicate}
	if rc != nil {
		sides = append(sides, sideRclone, sideRcloneFast)
	}
	samples := map[side][]Sample{}
	for run := 1; run <= cfg.Runs; run++ {
		// Rotate who goes first, so no side always gets the cold start.
		for k := range sides {
			s := sides[(k+run-1)%len(sides)]
			name := s.file(run)
			var smp Sample
			if s == sideSyndicate {
				smp, err = runSyndicate(ctx, cfg, t, src, name)
			} else {
				smp, err = runRclone(ctx, rc, src, name, s == sideRcloneFast)
			}
			cleanup(ctx, tr, name)
			if err != nil {
				return sum, fmt.Errorf("run %d, %s: %w", run, s, err)
			}
			if smp.Bytes != cfg.Size {
				return sum, fmt.Errorf("run %d, %s: uploaded %d bytes, want %d", run, s, smp.Bytes, cfg.Size)
			}
			samples[s] = append(samples[s], smp)
			fmt.Fprintf(cfg.Out, "  run %d %-19s %7.1f MB/s  %6.2fs  max RSS %s MiB\n", run, s.String()+":", smp.MBps(), smp.Wall.Seconds(), mib(smp.MaxRSS))
		}
	}
	sum = Summary{Protocol: cfg.Protocol, Size: cfg.Size, Syndicate: MedianOf(samples[sideSyndicate]),
		Rclone: MedianOf(samples[sideRclone]), RcloneFast: MedianOf(samples[sideRcloneFast])}
	if rc != nil {
		sum.NoChecksumFlags = rc.fast
	}
	fmt.Fprintln(cfg.Out, sum.Line())
	fmt.Fprintln(cfg.Out, sum.RSSLine())
	return sum, nil
}

// cleanup removes what an upload may have left under name. Failures are
// ignored: the file may never have been written.
func cleanup(ctx context.Context, tr transport.Transport, name string) {
	ctx = context.WithoutCancel(ctx)
	_ = tr.Remove(ctx, name)
	_ = tr.Remove(ctx, name+".bench.partial") // workflow.Upload's temporary name
}

// runSyndicate runs `syndicate bench upload-once` and measures it as a
// whole: wall time from start to exit, and the child's peak RSS.
func runSyndicate(ctx context.Context, cfg Config, t Target, src, name string) (Sample, error) {
	args := append(append(append([]string{}, cfg.Self[1:]...), t.Args()...), "--name", name, src)
	cmd := exec.CommandContext(ctx, cfg.Self[0], args...)
	cmd.Env = append(append(os.Environ(), cfg.SelfEnv...), t.Env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	smp, err := timed(cmd)
	if err != nil {
		return smp, fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	var r Report
	if err := json.Unmarshal(lastLine(stdout.Bytes()), &r); err != nil {
		return smp, fmt.Errorf("upload-once printed %q: %w", stdout.String(), err)
	}
	smp.Bytes = r.Bytes
	if r.MaxRSS > 0 {
		smp.MaxRSS = r.MaxRSS // exact; see timed
	}
	return smp, nil
}

func runRclone(ctx context.Context, rc *rcloneRemote, src, name string, fast bool) (Sample, error) {
	cmd := exec.CommandContext(ctx, rc.bin, rc.args(src, name, fast)...)
	cmd.Env = rc.environ()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	smp, err := timed(cmd)
	if err != nil {
		return smp, fmt.Errorf("rclone: %w: %s", err, strings.TrimSpace(out.String()))
	}
	fi, err := os.Stat(src)
	if err != nil {
		return smp, err
	}
	smp.Bytes = fi.Size()
	return smp, nil
}

func lastLine(b []byte) []byte {
	b = bytes.TrimSpace(b)
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		return b[i+1:]
	}
	return b
}

// writeRandom writes size bytes of fast pseudo-random data (ChaCha8), which
// neither compresses nor dedups.
func writeRandom(name string, size int64) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	var seed [32]byte
	for i := range seed {
		seed[i] = byte(rand.Uint32())
	}
	w := bufio.NewWriterSize(f, 4<<20)
	if _, err := io.CopyN(w, rand.NewChaCha8(seed), size); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func rcloneVersion(ctx context.Context, bin string) string {
	if bin == "" {
		return "; rclone not run"
	}
	out, err := exec.CommandContext(ctx, bin, "version").Output()
	if err != nil {
		return "; rclone " + bin
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return "; " + strings.TrimSpace(line)
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d-byte", n)
}
