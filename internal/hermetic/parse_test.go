package hermetic

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// TestOffLoopback reads a trace recorded in a network namespace with only
// lo (so none of its packets could leave): a TCP connect and a datagram to
// documentation addresses are found, a UDP connect with nothing sent after
// it is a route probe unless it is to a resolver (port 53), loopback and
// unix sockets are fine.
func TestOffLoopback(t *testing.T) {
	found, probes, err := offLoopback("testdata/strace.log")
	if err != nil {
		t.Fatal(err)
	}
	wantFound := []string{
		"pid 25806: TCP connect to 192.0.2.1:443",
		"pid 25806: UDP sendto to 192.0.2.7:53",
		"pid 31004: UDP connect to 10.255.255.53:53",
	}
	if !reflect.DeepEqual(found, wantFound) {
		t.Errorf("found %q, want %q", found, wantFound)
	}
	wantProbes := []string{
		"pid 25806: UDP connect to [2001:db8::1]:443",
		"pid 31002: UDP connect to [2001:4860:4860::8888]:443",
	}
	if !reflect.DeepEqual(probes, wantProbes) {
		t.Errorf("probes %q, want %q", probes, wantProbes)
	}
}

func TestLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:53": true, "127.53.0.1:53": true, "[::1]:80": true, "[::ffff:127.0.0.1]:5432": true,
		"0.0.0.0:0": true, "10.255.255.53:53": false, "[2001:4860:4860::8888]:443": false, "192.0.2.1": false,
	} {
		if got := loopback(addr); got != want {
			t.Errorf("loopback(%s) = %v, want %v", addr, got, want)
		}
	}
}

// TestTraceFile checks a trace made elsewhere, e.g. of the whole suite:
//
//	strace -f -qq -yy -s 0 -e trace=connect,sendto,sendmsg,sendmmsg -o /tmp/suite.trace go test ./...
//	SYNDICATE_TRACE_FILE=/tmp/suite.trace go test -run TestTraceFile ./internal/hermetic
func TestTraceFile(t *testing.T) {
	trace := os.Getenv("SYNDICATE_TRACE_FILE")
	if trace == "" {
		t.Skip("set SYNDICATE_TRACE_FILE to an strace log (-f -yy -e trace=connect,sendto,sendmsg,sendmmsg)")
	}
	found, probes, err := offLoopback(trace)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range probes {
		t.Logf("route probe, no packet sent: %s", p)
	}
	if len(found) > 0 {
		t.Errorf("the traced run tried to leave loopback:\n  %s", strings.Join(found, "\n  "))
	}
}
