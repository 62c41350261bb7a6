package hermetic

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// recorderAddr is where the recorder listens and what the programs'
// resolv.conf names: an address of lo that no resolver on the machine uses.
const recorderAddr = "127.53.0.1:53"

// TestNoTrafficOffLoopback runs the browser test and the demo with the
// resolver pointed at a recorder and every socket call traced, and fails
// on any name lookup or off-loopback connect or send.
func TestNoTrafficOffLoopback(t *testing.T) {
	if os.Getenv("SYNDICATE_FULL") != "1" {
		t.Skip("full suite only (SYNDICATE_FULL=1): needs root, unshare, strace and Chromium")
	}
	if os.Geteuid() != 0 {
		t.Fatal("needs root: it bind-mounts its own /etc/resolv.conf in a mount namespace")
	}
	for _, tool := range []string{"unshare", "strace", "mount"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("needs %s (apt-get install -y strace util-linux mount): %v", tool, err)
		}
	}
	root := moduleRoot(t)
	bin := t.TempDir()
	build(t, root, "test", "-c", "-o", filepath.Join(bin, "ui.test"), "./internal/ui")
	build(t, root, "build", "-o", filepath.Join(bin, "syndicate"), "./cmd/syndicate")

	rec := startRecorder(t)
	resolv := filepath.Join(t.TempDir(), "resolv.conf")
	host, _, _ := net.SplitHostPort(recorderAddr)
	if err := os.WriteFile(resolv, []byte("nameserver "+host+"\noptions timeout:1 attempts:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	runs := []struct {
		name string
		dir  string
		argv []string
	}{
		{"browser test", filepath.Join(root, "internal/ui"), []string{filepath.Join(bin, "ui.test"), "-test.run", "^TestBrowser$", "-test.count=1", "-test.v"}},
		{"demo", t.TempDir(), []string{filepath.Join(bin, "syndicate"), "demo"}},
	}
	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			rec.reset()
			trace := filepath.Join(t.TempDir(), "strace.log")
			out, err := traced(r.dir, resolv, trace, r.argv)
			if err != nil {
				t.Fatalf("%s failed: %v\n%s", r.name, err, tail(out, 4000))
			}
			found, probes, err := offLoopback(trace)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range probes {
				t.Logf("route probe, no packet sent: %s", p)
			}
			for _, q := range rec.names() {
				found = append(found, "DNS query for "+q)
			}
			if len(found) > 0 {
				t.Errorf("%s tried to leave loopback:\n  %s", r.name, strings.Join(found, "\n  "))
			}
		})
	}
}

// traced runs argv under strace in a mount namespace whose /etc/resolv.conf
// is resolv, writing the trace to trace.
func traced(dir, resolv, trace string, argv []string) ([]byte, error) {
	script := `mount --bind "$1" /etc/resolv.conf && shift && exec "$@"`
	args := append([]string{"--mount", "--propagation", "private", "--", "/bin/sh", "-c", script, "sh", resolv,
		"strace", "-f", "-qq", "-yy", "-s", "0", "-e", "trace=connect,sendto,sendmsg,sendmmsg", "-o", trace}, argv...)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SYNDICATE_FULL=1")
	return cmd.CombinedOutput()
}

var (
	ipv4 = regexp.MustCompile(`inet_addr\("([^"]+)"\)`)
	ipv6 = regexp.MustCompile(`inet_pton\(AF_INET6, "([^"]+)"`)
	peer = regexp.MustCompile(`->\[?([0-9a-fA-F:.]+?)\]?:(\d+)\]>`)
	port = regexp.MustCompile(`sin6?_port=htons\((\d+)\)`)
	call = regexp.MustCompile(`^(\d+)\s+(connect|sendto|sendmsg|sendmmsg)\((\d+)<([A-Z]+)`)
)

// offLoopback reads an strace log and returns every connect or send to an
// address outside loopback ("pid 12: TCP connect to 203.0.113.1:443"),
// and separately the UDP connects to such addresses that nothing was sent
// on (route probes).
func offLoopback(trace string) (found, probes []string, err error) {
	f, err := os.Open(trace)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		m := call.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		pid, sys, proto := m[1], m[2], m[4]
		var addrs []string
		for _, re := range []*regexp.Regexp{ipv4, ipv6} {
			for _, a := range re.FindAllStringSubmatch(line, -1) {
				p := ""
				if pm := port.FindStringSubmatch(line); pm != nil {
					p = pm[1]
				}
				addrs = append(addrs, net.JoinHostPort(a[1], p))
			}
		}
		if sys != "connect" {
			for _, a := range peer.FindAllStringSubmatch(line, -1) {
				addrs = append(addrs, net.JoinHostPort(a[1], a[2]))
			}
		}
		for _, a := range addrs {
			if loopback(a) {
				continue
			}
			what := fmt.Sprintf("pid %s: %s %s to %s", pid, proto, sys, a)
			if seen[what] {
				continue
			}
			seen[what] = true
			// A UDP connect() sends nothing: it asks the kernel for a route
			// (Chromium's IPv6 reachability check). A datagram sent on
			// that socket later names the peer in its own line (-yy).
			// Port 53 is a resolver: Go writes its query with write(2),
			// which is not traced, so the connect stands for the query.
			if sys == "connect" && strings.HasPrefix(proto, "UDP") && !strings.HasSuffix(a, ":53") {
				probes = append(probes, what)
			} else {
				found = append(found, what)
			}
		}
	}
	sort.Strings(found)
	sort.Strings(probes)
	return found, probes, sc.Err()
}

// loopback reports whether hostport is on loopback (or unspecified, which
// a connect treats as this host).
func loopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	return ip.IsLoopback() || ip.IsUnspecified()
}

// recorder is a DNS server on loopback that answers REFUSED to everything
// and remembers the names it was asked for.
type recorder struct {
	mu    sync.Mutex
	asked map[string]int
}

func startRecorder(t *testing.T) *recorder {
	t.Helper()
	r := &recorder{asked: map[string]int{}}
	pc, err := net.ListenPacket("udp", recorderAddr)
	if err != nil {
		t.Fatalf("DNS recorder: %v", err)
	}
	ln, err := net.Listen("tcp", recorderAddr)
	if err != nil {
		pc.Close()
		t.Fatalf("DNS recorder: %v", err)
	}
	t.Cleanup(func() { pc.Close(); ln.Close() })
	go func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if resp := r.answer(buf[:n]); resp != nil {
				pc.WriteTo(resp, from)
			}
		}
	}()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go r.serveTCP(c)
		}
	}()
	return r
}

func (r *recorder) serveTCP(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	for {
		var l [2]byte
		if _, err := readFull(c, l[:]); err != nil {
			return
		}
		msg := make([]byte, int(l[0])<<8|int(l[1]))
		if _, err := readFull(c, msg); err != nil {
			return
		}
		resp := r.answer(msg)
		if resp == nil {
			return
		}
		c.Write(append([]byte{byte(len(resp) >> 8), byte(len(resp))}, resp...))
	}
}

func readFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := c.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// answer records the question of msg and returns a REFUSED reply.
func (r *recorder) answer(msg []byte) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil {
		r.record("(unparsable query)")
		return nil
	}
	qs, err := p.AllQuestions()
	if err != nil {
		r.record("(unparsable question)")
		return nil
	}
	for _, q := range qs {
		r.record(strings.TrimSuffix(q.Name.String(), ".") + " " + strings.TrimPrefix(q.Type.String(), "Type"))
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, RCode: dnsmessage.RCodeRefused})
	b.StartQuestions()
	for _, q := range qs {
		b.Question(q)
	}
	out, err := b.Finish()
	if err != nil {
		return nil
	}
	return out
}

func (r *recorder) record(name string) {
	r.mu.Lock()
	r.asked[name]++
	r.mu.Unlock()
}

func (r *recorder) reset() {
	r.mu.Lock()
	r.asked = map[string]int{}
	r.mu.Unlock()
}

// names lists what was asked, with counts, sorted.
func (r *recorder) names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.asked))
	for n, c := range r.asked {
		out = append(out, fmt.Sprintf("%s (%d)", n, c))
	}
	sort.Strings(out)
	return out
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		t.Fatalf("go env GOMOD: %v", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

func build(t *testing.T, root string, args ...string) {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
