package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/syndicate-media/syndicate/internal/archive"
	"github.com/syndicate-media/syndicate/internal/transport"
	"github.com/syndicate-media/syndicate/internal/workflow"
)

// Config is one `syndicate bench transfer`.
type Config struct {
	Protocol string
	Size     int64
	Runs     int
	// Archive (tar, tgz, zip), when set, makes the upload one archive of
	// the generated files: Syndicate builds it while uploading, as a
	// delivery with package.archive does; rclone uploads the same bytes,
	// written beforehand.
	Archive string
	// RTT, when set, puts both sides behind a proxy on 127.0.0.1 that
	// delays every byte by half of it each way: a distant partner.
	RTT time.Duration
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
// transport for t and sends files[0] to name exactly as a delivery sends a
// file (workflow.Upload), or with kind set, every file as one archive built
// on the fly (workflow.UploadArchive), timing both.
func UploadOnce(ctx context.Context, t Target, kind string, files []string, name string, log *slog.Logger) (Report, error) {
	if kind == "" && len(files) != 1 {
		return Report{}, fmt.Errorf("upload-once: one file, or --archive for %d", len(files))
	}
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
	var (
		sum string
		n   int64
	)
	if kind != "" {
		sum, n, err = workflow.UploadArchive(ctx, log, tr, name, kind, files)
	} else {
		sum, err = workflow.Upload(ctx, log, tr, name, files[0], 0)
		if err == nil {
			var fi os.FileInfo
			fi, err = os.Stat(files[0])
			if fi != nil {
				n = fi.Size()
			}
		}
	}
	if err != nil {
		return Report{}, err
	}
	return Report{Bytes: n, Seconds: time.Since(start).Seconds(), SHA256: sum, MaxRSS: SelfPeakRSS()}, nil
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

// file is the name s uploads to in run; ext is ".bin" or the archive's.
func (s side) file(run int, ext string) string {
	return fmt.Sprintf("bench-%s-%d%s", [...]string{"syndicate", "rclone", "rclone-nocheck"}[s], run, ext)
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
	if cfg.Archive != "" && !archive.Valid(cfg.Archive) {
		return sum, fmt.Errorf("archive %q: want one of %s", cfg.Archive, strings.Join(archive.Kinds, ", "))
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
		t.Streams = cfg.Target.Streams
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
	if cfg.RTT > 0 {
		proxy, err := delayTarget(&t, cfg.Protocol, cfg.RTT)
		if err != nil {
			return sum, err
		}
		defer proxy.Close()
		if u, err = t.check(cfg.Protocol); err != nil {
			return sum, err
		}
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

	in, err := prepare(ctx, cfg, work)
	if err != nil {
		return sum, err
	}
	fmt.Fprintf(cfg.Out, "bench transfer %s: %s, %d runs, to %s; %d CPUs%s\n",
		cfg.Protocol, in.what, cfg.Runs, u.Redacted(), runtime.NumCPU(), rcloneVersion(ctx, cfg.Rclone))

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
	var loads []float64 // the 1-minute load average after each upload
	for run := 1; run <= cfg.Runs; run++ {
		// Rotate who goes first, so no side always gets the cold start.
		for k := range sides {
			s := sides[(k+run-1)%len(sides)]
			name := s.file(run, in.ext)
			// Each upload starts with no dirty pages waiting for the disk:
			// the last one's writeback would otherwise slow the next.
			syncDisks()
			var smp Sample
			if s == sideSyndicate {
				var got string
				smp, got, err = runSyndicate(ctx, cfg, t, in.sources, name)
				if err == nil && in.sha256 != "" && got != in.sha256 {
					err = fmt.Errorf("the archive built while uploading has sha256 %s, the one rclone uploads %s: not the same bytes", got, in.sha256)
				}
			} else {
				smp, err = runRclone(ctx, rc, in.upload, name, s == sideRcloneFast)
			}
			cleanup(ctx, tr, name)
			if err != nil {
				return sum, fmt.Errorf("run %d, %s: %w", run, s, err)
			}
			if smp.Bytes != in.size {
				return sum, fmt.Errorf("run %d, %s: uploaded %d bytes, want %d", run, s, smp.Bytes, in.size)
			}
			samples[s] = append(samples[s], smp)
			load := loadAverage()
			loads = append(loads, load)
			fmt.Fprintf(cfg.Out, "  run %d %-19s %7.1f MB/s  %6.2fs  max RSS %s MiB  load %.1f\n", run, s.String()+":", smp.MBps(), smp.Wall.Seconds(), mib(smp.MaxRSS), load)
		}
	}
	sum = Summary{Protocol: cfg.Protocol, Archive: cfg.Archive, RTT: cfg.RTT, Size: in.size, Syndicate: MedianOf(samples[sideSyndicate]),
		Rclone: MedianOf(samples[sideRclone]), RcloneFast: MedianOf(samples[sideRcloneFast])}
	if rc != nil {
		sum.NoChecksumFlags = rc.fast
	}
	fmt.Fprintln(cfg.Out, sum.Line())
	fmt.Fprintln(cfg.Out, sum.RSSLine())
	if len(loads) > 0 && loads[0] >= 0 {
		fmt.Fprintf(cfg.Out, "load %s: 1-minute load average %.1f to %.1f during the runs, on %d CPUs\n",
			sum.name(), slices.Min(loads), slices.Max(loads), runtime.NumCPU())
	}
	return sum, nil
}

// delayTarget starts a delay proxy in front of t's server and points t at
// it: the URL's host for most protocols, the endpoint for S3.
func delayTarget(t *Target, protocol string, rtt time.Duration) (*delayProxy, error) {
	if protocol == "local" {
		return nil, errors.New("--rtt needs a network protocol, not local")
	}
	raw := t.URL
	if protocol == "s3" {
		raw = t.Endpoint
		if raw == "" {
			return nil, errors.New("--rtt with s3 needs an --endpoint to put the delay in front of")
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"sftp": "22", "ftp": "21", "ftps": "21", "http": "80", "https": "443"}[u.Scheme]
	}
	proxy, err := startDelayProxy(net.JoinHostPort(u.Hostname(), port), rtt)
	if err != nil {
		return nil, err
	}
	u.Host = proxy.Addr()
	if protocol == "s3" {
		t.Endpoint = u.String()
	} else {
		t.URL = u.String()
	}
	return proxy, nil
}

// cleanup removes what an upload may have left under name. Failures are
// ignored: the file may never have been written.
func cleanup(ctx context.Context, tr transport.Transport, name string) {
	ctx = context.WithoutCancel(ctx)
	for _, n := range []string{name, name + ".sha256"} { // an archive's checksum file
		_ = tr.Remove(ctx, n)
		_ = tr.Remove(ctx, n+".bench.partial") // workflow.Upload's temporary name
	}
}

// input is what a run uploads.
type input struct {
	what    string   // for the heading
	sources []string // Syndicate's: the file, or the files it archives
	upload  string   // rclone's: the file, or the archive made beforehand
	size    int64    // of upload
	sha256  string   // of the archive; "" for a plain file
	ext     string   // of the uploaded names
}

// prepare writes the random file(s) into work and, for an archive, the
// archive rclone uploads: two files of half the size each, archived by
// the same code (workflow.BenchArchive) Syndicate streams them with.
func prepare(ctx context.Context, cfg Config, work string) (input, error) {
	if cfg.Archive == "" {
		src := filepath.Join(work, "source.bin")
		if err := writeRandom(src, cfg.Size); err != nil {
			return input{}, err
		}
		return input{what: formatBytes(cfg.Size) + " random file", sources: []string{src}, upload: src, size: cfg.Size, ext: ".bin"}, nil
	}
	in := input{sources: []string{filepath.Join(work, "media-1.bin"), filepath.Join(work, "media-2.bin")}, ext: archive.Ext(cfg.Archive)}
	for i, size := range []int64{cfg.Size / 2, cfg.Size - cfg.Size/2} {
		if err := writeRandom(in.sources[i], size); err != nil {
			return input{}, err
		}
	}
	in.upload = filepath.Join(work, "package"+in.ext)
	stream, err := workflow.BenchArchive(ctx, cfg.Archive, in.sources)
	if err != nil {
		return input{}, err
	}
	defer stream.Close()
	f, err := os.Create(in.upload)
	if err != nil {
		return input{}, err
	}
	h := sha256.New()
	in.size, err = io.Copy(io.MultiWriter(f, h), stream)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return input{}, fmt.Errorf("archive for rclone: %w", err)
	}
	in.sha256 = hex.EncodeToString(h.Sum(nil))
	in.what = fmt.Sprintf("%s of 2 random files (%s in all), built while uploading; rclone uploads the same %d bytes, archived beforehand",
		cfg.Archive, formatBytes(cfg.Size), in.size)
	return in, nil
}

// runSyndicate runs `syndicate bench upload-once` and measures it as a
// whole: wall time from start to exit, and the child's peak RSS. It also
// returns the sha256 the child computed.
func runSyndicate(ctx context.Context, cfg Config, t Target, sources []string, name string) (Sample, string, error) {
	args := append(append([]string{}, cfg.Self[1:]...), t.Args()...)
	if cfg.Archive != "" {
		args = append(args, "--archive", cfg.Archive)
	}
	args = append(append(args, "--name", name), sources...)
	cmd := exec.CommandContext(ctx, cfg.Self[0], args...)
	cmd.Env = append(append(os.Environ(), cfg.SelfEnv...), t.Env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	smp, err := timed(cmd)
	if err != nil {
		return smp, "", fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	var r Report
	if err := json.Unmarshal(lastLine(stdout.Bytes()), &r); err != nil {
		return smp, "", fmt.Errorf("upload-once printed %q: %w", stdout.String(), err)
	}
	smp.Bytes = r.Bytes
	if r.MaxRSS > 0 {
		smp.MaxRSS = r.MaxRSS // exact; see timed
	}
	return smp, r.SHA256, nil
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

// loadAverage is the 1-minute load average (Linux), or -1: on a shared
// machine it says how much the other work weighed on a figure.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
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
