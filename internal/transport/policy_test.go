package transport_test

import (
	"context"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/syndicate-media/syndicate/internal/transport"
)

func TestPolicy(t *testing.T) {
	ctx := context.Background()
	// localhost from a recording resolver: the test asks no real one.
	strict := &transport.Policy{Resolver: &recorder{answers: map[string][]netip.Addr{
		"localhost": {netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")}}}}
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

// recorder is a Resolver that records every lookup and answers from a
// fixed table, refusing any other name: no query leaves the machine.
type recorder struct {
	answers map[string][]netip.Addr
	asked   []string
}

func (r *recorder) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.asked = append(r.asked, host)
	if a, ok := r.answers[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "refused by the test resolver", Name: host, IsNotFound: true}
}

// TestPolicyS3 checks that an s3:// destination is judged by the host the
// transport connects to, and that its bucket name is never looked up.
func TestPolicyS3(t *testing.T) {
	ctx := context.Background()
	public := []netip.Addr{netip.MustParseAddr("52.95.0.10")}
	aws := map[string][]netip.Addr{"s3.eu-west-1.amazonaws.com": public, "s3.us-east-1.amazonaws.com": public,
		"objects.partner.example": {netip.MustParseAddr("198.51.100.7")}, "minio.internal": {netip.MustParseAddr("10.0.0.9")}}
	u := func(raw string) *url.URL {
		t.Helper()
		v, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		name             string
		policy           transport.Policy
		url, endpoint    string
		region           string
		allowed          bool
		asked            []string
		errPart          string
		permanentRefusal bool
	}{
		{name: "IP literal endpoint: no lookup at all", policy: transport.Policy{AllowPrivate: true},
			url: "s3://deliveries-bucket/in", endpoint: "http://127.0.0.1:7070", allowed: true},
		{name: "IP literal endpoint, private refused", policy: transport.Policy{},
			url: "s3://deliveries-bucket/in", endpoint: "http://127.0.0.1:7070", errPart: "private", permanentRefusal: true},
		{name: "AWS: the regional endpoint is checked", policy: transport.Policy{},
			url: "s3://deliveries-bucket/in", region: "eu-west-1", allowed: true, asked: []string{"s3.eu-west-1.amazonaws.com"}},
		{name: "AWS: default region", policy: transport.Policy{},
			url: "s3://deliveries-bucket", allowed: true, asked: []string{"s3.us-east-1.amazonaws.com"}},
		{name: "AWS: bad region refused", policy: transport.Policy{},
			url: "s3://deliveries-bucket", region: "eu-west-1.evil.example/", errPart: "region", permanentRefusal: true},
		{name: "named endpoint resolved, private refused", policy: transport.Policy{},
			url: "s3://deliveries-bucket", endpoint: "https://minio.internal", errPart: "10.0.0.9", permanentRefusal: true, asked: []string{"minio.internal"}},
		{name: "allowlist: bucket on AWS", policy: transport.Policy{Hosts: []string{"s3://deliveries-bucket"}},
			url: "s3://deliveries-bucket/x", region: "eu-west-1", allowed: true, asked: []string{"s3.eu-west-1.amazonaws.com"}},
		{name: "allowlist: other bucket on AWS", policy: transport.Policy{Hosts: []string{"s3://deliveries-bucket"}},
			url: "s3://someone-elses", region: "eu-west-1", errPart: "not in the allowed", permanentRefusal: true, asked: []string{"s3.eu-west-1.amazonaws.com"}},
		{name: "allowlist: an AWS bucket entry does not cover an endpoint", policy: transport.Policy{Hosts: []string{"s3://deliveries-bucket"}},
			url: "s3://deliveries-bucket", endpoint: "https://objects.partner.example", errPart: "not in the allowed", permanentRefusal: true, asked: []string{"objects.partner.example"}},
		{name: "allowlist: bucket at an endpoint", policy: transport.Policy{Hosts: []string{"s3://deliveries-bucket@objects.partner.example"}},
			url: "s3://deliveries-bucket/p", endpoint: "https://objects.partner.example", allowed: true, asked: []string{"objects.partner.example"}},
		{name: "allowlist: bucket at a CIDR", policy: transport.Policy{AllowPrivate: true, Hosts: []string{"s3://deliveries-bucket@127.0.0.0/8"}},
			url: "s3://deliveries-bucket/p", endpoint: "http://127.0.0.1:7070", allowed: true},
		{name: "allowlist: bucket at another endpoint", policy: transport.Policy{Hosts: []string{"s3://deliveries-bucket@objects.partner.example"}},
			url: "s3://deliveries-bucket/p", endpoint: "https://52.95.0.10", errPart: "not in the allowed", permanentRefusal: true},
		{name: "allowlist: endpoint host allows every bucket", policy: transport.Policy{Hosts: []string{"*.partner.example"}},
			url: "s3://any-bucket", endpoint: "https://objects.partner.example", allowed: true, asked: []string{"objects.partner.example"}},
		{name: "allowlist: a host entry naming the bucket does not allow it", policy: transport.Policy{Hosts: []string{"deliveries-bucket"}},
			url: "s3://deliveries-bucket", region: "eu-west-1", errPart: "not in the allowed", permanentRefusal: true, asked: []string{"s3.eu-west-1.amazonaws.com"}},
		{name: "sftp host still resolved and checked", policy: transport.Policy{},
			url: "sftp://u@objects.partner.example/in", allowed: true, asked: []string{"objects.partner.example"}},
		{name: "sftp: an s3 entry is not a host entry", policy: transport.Policy{Hosts: []string{"s3://objects.partner.example"}},
			url: "sftp://u@objects.partner.example/in", errPart: "not in the allowed", permanentRefusal: true, asked: []string{"objects.partner.example"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := &recorder{answers: aws}
			p := c.policy
			p.Resolver = rec
			err := p.CheckDestination(ctx, u(c.url), c.endpoint, c.region)
			if (err == nil) != c.allowed {
				t.Fatalf("CheckDestination: %v, want allowed=%v", err, c.allowed)
			}
			if err != nil && (!strings.Contains(err.Error(), c.errPart) || transport.IsPermanent(err) != c.permanentRefusal) {
				t.Fatalf("CheckDestination: %v (permanent %v), want %q, permanent %v", err, transport.IsPermanent(err), c.errPart, c.permanentRefusal)
			}
			if !slices.Equal(rec.asked, c.asked) {
				t.Fatalf("looked up %q, want %q", rec.asked, c.asked)
			}
		})
	}
}

// TestPolicyResolverFailure: a failed lookup is a passing error, not a
// refusal: DNS may be down for a moment.
func TestPolicyResolverFailure(t *testing.T) {
	rec := &recorder{}
	err := (&transport.Policy{Resolver: rec}).Check(context.Background(), "sftp.partner.example")
	if err == nil || transport.IsPermanent(err) || !strings.Contains(err.Error(), "refused by the test resolver") {
		t.Fatalf("Check with a failing resolver: %v", err)
	}
	if !slices.Equal(rec.asked, []string{"sftp.partner.example"}) {
		t.Fatalf("looked up %q", rec.asked)
	}
}

// TestPolicyValidate: a malformed allowlist entry is refused up front
// instead of matching nothing.
func TestPolicyValidate(t *testing.T) {
	for _, h := range []string{"sftp.partner.example", "*.cdn.example", "203.0.113.0/24", "2001:db8::/32", "198.51.100.7", "[::1]",
		"s3://media-drop", "s3://media.drop-2", "s3://media-drop@objects.partner.example", "s3://media-drop@127.0.0.0/8", "S3://Media-Drop"} {
		if err := (&transport.Policy{Hosts: []string{h}}).Validate(); err != nil {
			t.Errorf("%s: %v", h, err)
		}
	}
	for _, h := range []string{"s3://", "s3:/media-drop", "s3://ab", "s3://media_drop", "s3://media-drop@", "s3://x@y@z",
		"sftp://host", "host/path", "", "*.", "10.0.0.0/33"} {
		if err := (&transport.Policy{Hosts: []string{h}}).Validate(); err == nil || !strings.Contains(err.Error(), "allowed destination") {
			t.Errorf("%q accepted: %v", h, err)
		}
	}
}
