package bench

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/syndicate-media/syndicate/internal/transport/local" // file://, the only transport these tests use
)

// childEnv makes the test binary act as `syndicate bench upload-once`.
const childEnv = "SYNDICATE_BENCH_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(uploadOnceChild(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// uploadOnceChild mirrors the CLI's upload-once.
func uploadOnceChild(args []string) int {
	fs := flag.NewFlagSet("upload-once", flag.ContinueOnError)
	var t Target
	t.AddFlags(fs)
	name := fs.String("name", "", "")
	kind := fs.String("archive", "", "")
	if err := fs.Parse(args); err != nil || fs.NArg() < 1 {
		return 2
	}
	r, err := UploadOnce(context.Background(), t, *kind, fs.Args(), *name, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	_ = json.NewEncoder(os.Stdout).Encode(r)
	return 0
}

// fakeRclone writes a stand-in for rclone that copies a local file and logs
// its arguments, refusing to run unless told to keep off config files.
func fakeRclone(t *testing.T, dir string) (bin, log string) {
	t.Helper()
	bin, log = filepath.Join(dir, "rclone"), filepath.Join(dir, "rclone.log")
	script := `#!/bin/sh
echo "$@" >>` + log + `
case "$1" in
version) echo "rclone v0.0.0-fake"; exit 0 ;;
backend) echo '{"Hashes":["md5"]}'; exit 0 ;;
copyto) [ "$4" = --config ] && [ "$5" = /dev/null ] || { echo "no --config /dev/null" >&2; exit 1; }
	env | grep -q '^RCLONE_' && { echo "rclone env leaked" >&2; exit 1; }
	exec cp "$2" "$3" ;;
esac
exit 1
`
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, log
}

func TestTransferLocal(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	tmp, dest, tools := t.TempDir(), t.TempDir(), t.TempDir()
	rclone, log := fakeRclone(t, tools)
	t.Setenv("RCLONE_CONFIG_BENCH_TYPE", "must-not-reach-rclone")
	var out strings.Builder
	const size = 1<<20 + 17
	sum, err := Transfer(context.Background(), Config{
		Protocol: "local", Size: size, Runs: 3, Rclone: rclone,
		Target: Target{URL: "file://" + filepath.ToSlash(dest)},
		Self:   []string{os.Args[0]}, SelfEnv: []string{childEnv + "=1"},
		TempDir: tmp, Out: &out,
	})
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Syndicate.Runs != 3 || sum.Syndicate.MBps <= 0 || sum.Syndicate.MaxRSS <= 0 {
		t.Errorf("syndicate median = %+v, want 3 runs, a positive rate and RSS", sum.Syndicate)
	}
	if sum.Rclone.Runs != 3 || sum.Rclone.MBps <= 0 || sum.RcloneFast.Runs != 3 || sum.RcloneFast.MBps <= 0 {
		t.Errorf("rclone medians = %+v, %+v, want 3 runs each with a positive rate", sum.Rclone, sum.RcloneFast)
	}
	if !strings.Contains(out.String(), sum.Line()) || !strings.HasPrefix(sum.Line(), "transfer local: syndicate ") {
		t.Errorf("output lacks the summary line %q", sum.Line())
	}
	for _, dir := range []string{dest, tmp} {
		if left, _ := os.ReadDir(dir); len(left) != 0 {
			t.Errorf("%s still holds %v after the benchmark", dir, left)
		}
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	var copies, fast int
	for line := range strings.Lines(string(b)) {
		if strings.HasPrefix(line, "copyto ") {
			copies++
			if strings.Contains(line, "--ignore-checksum") {
				fast++
			}
		}
	}
	if copies != 6 || fast != 3 {
		t.Errorf("rclone ran copyto %d times, %d with --ignore-checksum; want 6 and 3:\n%s", copies, fast, b)
	}
}

func TestTransferUnknownTransport(t *testing.T) {
	_, err := Transfer(context.Background(), Config{Protocol: "s3", Size: 1, Runs: 1,
		Target: Target{URL: "s3://bucket/prefix"}, TempDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "no s3:// transport") {
		t.Fatalf("err = %v, want one saying this build has no s3 transport", err)
	}
}

func TestSummaryLine(t *testing.T) {
	s := Summary{
		Protocol:        "sftp",
		Syndicate:       MedianOf([]Sample{{Bytes: 1e9, Wall: 4 * time.Second, MaxRSS: 20 << 20}, {Bytes: 1e9, Wall: 2 * time.Second, MaxRSS: 18 << 20}, {Bytes: 1e9, Wall: 5 * time.Second, MaxRSS: 30 << 20}}),
		Rclone:          MedianOf([]Sample{{Bytes: 1e9, Wall: 8 * time.Second, MaxRSS: 100 << 20}, {Bytes: 1e9, Wall: 10 * time.Second, MaxRSS: 120 << 20}}),
		RcloneFast:      MedianOf([]Sample{{Bytes: 1e9, Wall: 3 * time.Second, MaxRSS: 110 << 20}}),
		NoChecksumFlags: []string{"--ignore-checksum"},
	}
	// Syndicate: rates 250, 500, 200 -> 250; RSS 20, 18, 30 -> 20 MiB.
	// rclone default: 125 and 100 -> 112.5; fast: 333.3.
	want := "transfer sftp: syndicate 250 MB/s (RSS 20 MiB), rclone default 112 MB/s (ratio 2.22), rclone no-checksum 333 MB/s (ratio 0.75)"
	if got := s.Line(); got != want {
		t.Errorf("Line() =\n %q, want\n %q", got, want)
	}
	if got, want := s.RSSLine(), "rss sftp: syndicate 20 MiB, rclone default 110 MiB, rclone no-checksum 110 MiB (--ignore-checksum)"; got != want {
		t.Errorf("RSSLine() = %q, want %q", got, want)
	}
	alone := Summary{Protocol: "local", Syndicate: MedianOf([]Sample{{Bytes: 5e7, Wall: time.Second, MaxRSS: 9 << 20}})}
	if got, want := alone.Line(), "transfer local: syndicate 50.0 MB/s (RSS 9 MiB), rclone not run"; got != want {
		t.Errorf("Line() = %q, want %q", got, want)
	}
	if m := MedianOf(nil); m != (Median{}) {
		t.Errorf("MedianOf(nil) = %+v", m)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1GiB": 1 << 30, "10GiB": 10 << 30, "512MiB": 512 << 20, "4k": 4096,
		"1GB": 1e9, "1048576": 1 << 20, "1.5GiB": 3 << 29, "2 MiB": 2 << 20} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "GiB", "1XB", "-1"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) succeeded", in)
		}
	}
}

func TestDefaultTargetSFTP(t *testing.T) {
	env := map[string]string{"SYNDICATE_TEST_SSHD_ADDR": "127.0.0.1:2222", "SYNDICATE_TEST_SSHD_USER": "syndicate",
		"SYNDICATE_TEST_SSHD_KEY": "/k/client", "SYNDICATE_TEST_SSHD_HOSTKEY": "SHA256:abc+/=", "SYNDICATE_TEST_SSHD_ROOT": "/tmp/r"}
	tg, err := DefaultTarget("sftp", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := Target{URL: "sftp://syndicate@127.0.0.1:2222/tmp/r", Secret: "file:/k/client", HostKey: "SHA256:abc+/="}
	if tg.URL != want.URL || tg.Secret != want.Secret || tg.HostKey != want.HostKey {
		t.Errorf("DefaultTarget(sftp) = %+v, want %+v", tg, want)
	}
	env = map[string]string{"SYNDICATE_TEST_WEBDAV_URL": "http://127.0.0.1:8088", "SYNDICATE_TEST_WEBDAV_SECRET_FILE": "/w/secret"}
	if tg, err := DefaultTarget("http", func(k string) string { return env[k] }); err != nil || tg.URL != "http://127.0.0.1:8088/" || tg.Secret != "file:/w/secret" {
		t.Errorf("DefaultTarget(http) = %+v, %v", tg, err)
	}
}

func TestReadEnvFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "env")
	body := "export A=127.0.0.1:2222\nexport B='a b'\nexport C=SHA256:x\\+y\nexport D=$'tab\\there'\n# comment\n\nE=plain\n"
	if err := os.WriteFile(f, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := readEnvFile(f)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"A": "127.0.0.1:2222", "B": "a b", "C": "SHA256:x+y", "D": "tab\there", "E": "plain"}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %q, want %q", k, m[k], v)
		}
	}
	if m, err := readEnvFile(filepath.Join(t.TempDir(), "missing")); err != nil || len(m) != 0 {
		t.Errorf("missing file: %v, %v", m, err)
	}
}

func TestSplitS3Secret(t *testing.T) {
	for in, want := range map[string][2]string{"AK:SK": {"AK", "SK"}, "AK\nSK\n": {"AK", "SK"},
		`{"access_key_id":"AK","secret_access_key":"SK"}`: {"AK", "SK"}} {
		id, key, err := splitS3Secret([]byte(in))
		if err != nil || id != want[0] || key != want[1] {
			t.Errorf("splitS3Secret(%q) = %q, %q, %v", in, id, key, err)
		}
	}
	if _, _, err := splitS3Secret([]byte("nocolon")); err == nil {
		t.Error("splitS3Secret(nocolon) succeeded")
	}
}

// A child's rusage Maxrss starts at its parent's peak (vfork, then exec);
// timed must report the child's own.
func TestTimedRSSIsTheChilds(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc")
	}
	big := make([]byte, 256<<20)
	for i := 0; i < len(big); i += 4096 {
		big[i] = 1
	}
	smp, err := timed(exec.Command("sleep", "0.1"))
	if err != nil {
		t.Fatal(err)
	}
	if smp.MaxRSS <= 0 || smp.MaxRSS > 64<<20 {
		t.Errorf("sleep's peak RSS = %d bytes; want its own few MiB, not this process's %d", smp.MaxRSS, SelfPeakRSS())
	}
	_ = big[len(big)-1]
}

// TestTransferLocalArchive: with --archive, Syndicate's archive built
// while uploading and the one rclone uploads are the same bytes (Transfer
// fails otherwise), the sizes are the archive's, and everything goes.
func TestTransferLocalArchive(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	for _, kind := range []string{"tar", "zip"} {
		t.Run(kind, func(t *testing.T) {
			tmp, dest, tools := t.TempDir(), t.TempDir(), t.TempDir()
			rclone, _ := fakeRclone(t, tools)
			var out strings.Builder
			const size = 3<<20 + 5
			sum, err := Transfer(context.Background(), Config{
				Protocol: "local", Size: size, Runs: 1, Archive: kind, Rclone: rclone,
				Target: Target{URL: "file://" + filepath.ToSlash(dest)},
				Self:   []string{os.Args[0]}, SelfEnv: []string{childEnv + "=1"},
				TempDir: tmp, Out: &out,
			})
			t.Log("\n" + out.String())
			if err != nil {
				t.Fatal(err)
			}
			if sum.Size <= size || sum.Syndicate.Runs != 1 || sum.Rclone.Runs != 1 {
				t.Errorf("summary = %+v, want the archive's size (over %d) and one run each", sum, size)
			}
			if !strings.HasPrefix(sum.Line(), "transfer local+"+kind+": syndicate ") {
				t.Errorf("Line() = %q, want it to name the archive", sum.Line())
			}
			for _, dir := range []string{dest, tmp} {
				if left, _ := os.ReadDir(dir); len(left) != 0 {
					t.Errorf("%s still holds %v after the benchmark", dir, left)
				}
			}
		})
	}
}

func TestTransferBadArchive(t *testing.T) {
	_, err := Transfer(context.Background(), Config{Protocol: "local", Size: 1, Runs: 1, Archive: "rar", TempDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), `archive "rar"`) {
		t.Fatalf("err = %v, want one naming the unknown archive kind", err)
	}
}
