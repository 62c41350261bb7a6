package transport_test

import (
	"context"
	"strings"
	"testing"

	"github.com/syndicate-media/syndicate/internal/transport"
)

func TestPolicy(t *testing.T) {
	ctx := context.Background()
	strict := &transport.Policy{}
	for _, h := range []string{"127.0.0.1", "localhost", "10.1.2.3", "192.168.0.9", "172.16.5.5", "169.254.169.254", "[::1]", "fd00::1", "0.0.0.0", "100.64.1.1"} {
		err := strict.Check(ctx, h)
		if err == nil || !transport.IsPermanent(err) || !strings.Contains(err.Error(), "private") {
			t.Errorf("%s: %v, want a permanent refusal", h, err)
		}
	}
	for _, h := range []string{"203.0.113.7", "2001:db8::1", ""} {
		if err := strict.Check(ctx, h); err != nil {
			t.Errorf("%s refused: %v", h, err)
		}
	}
	if err := (&transport.Policy{AllowPrivate: true}).Check(ctx, "127.0.0.1"); err != nil {
		t.Errorf("AllowPrivate: %v", err)
	}
	if err := (*transport.Policy)(nil).Check(ctx, "127.0.0.1"); err != nil {
		t.Errorf("no policy: %v", err)
	}
	list := &transport.Policy{AllowPrivate: true, Hosts: []string{"*.partner.example", "198.51.100.0/24", "127.0.0.1"}}
	for h, ok := range map[string]bool{"127.0.0.1": true, "198.51.100.20": true, "198.51.101.1": false, "10.0.0.1": false} {
		if err := list.Check(ctx, h); (err == nil) != ok {
			t.Errorf("allowlist %s: %v, want allowed=%v", h, err, ok)
		}
	}
	// Opening a transport applies the policy before any connection.
	_, err := transport.Open(ctx, "sftp://u@127.0.0.1:1/x", transport.Options{Policy: strict})
	if err == nil || !strings.Contains(err.Error(), "private") {
		t.Errorf("Open with a strict policy: %v", err)
	}
}
