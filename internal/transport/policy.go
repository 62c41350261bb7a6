package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// Policy says which destination hosts a transport may connect to. The
// server always sets one: by default private networks are refused, so a
// partner profile cannot be used to reach into the network Syndicate runs
// in. The check runs when a transport is opened; a host whose DNS changes
// between the check and the connection is not caught.
//
// For s3:// destinations the host connected to is the endpoint's (or, with
// no endpoint, AWS's regional endpoint s3.REGION.amazonaws.com), not the
// URL's: there the URL's host is a bucket name, which is never resolved.
type Policy struct {
	// AllowPrivate permits loopback, private (RFC 1918, fc00::/7),
	// link-local, CGNAT and unspecified addresses.
	AllowPrivate bool
	// Hosts, when not empty, is an allowlist: exact host names,
	// "*.example.com" for any subdomain, CIDRs such as 203.0.113.0/24, and
	// S3 buckets: "s3://BUCKET" for a bucket on AWS, "s3://BUCKET@HOST"
	// for one on the S3-compatible endpoint at HOST (a name, *.domain or
	// CIDR as above). A host entry that matches an S3 endpoint allows every
	// bucket there.
	Hosts []string
	// Resolver looks host names up; nil is net.DefaultResolver. Tests set
	// one that records and refuses, so that no query leaves the machine.
	Resolver Resolver
}

// Validate checks the allowlist's entries, so that a typo is refused when
// the server starts instead of silently matching nothing.
func (p *Policy) Validate() error {
	if p == nil {
		return nil
	}
	for _, h := range p.Hosts {
		if err := validEntry(strings.ToLower(strings.TrimSpace(h))); err != nil {
			return fmt.Errorf("allowed destination %q: %w", h, err)
		}
	}
	return nil
}

func validEntry(h string) error {
	if rest, ok := strings.CutPrefix(h, "s3://"); ok {
		bucket, host, withHost := strings.Cut(rest, "@")
		if !validBucket(bucket) {
			return errors.New("want s3://BUCKET or s3://BUCKET@HOST with a bucket name of 3-63 lowercase letters, digits, . and -")
		}
		if withHost {
			return validHostEntry(host)
		}
		return nil
	}
	return validHostEntry(h)
}

func validHostEntry(h string) error {
	if _, err := netip.ParsePrefix(h); err == nil {
		return nil
	}
	name := strings.TrimPrefix(h, "*.")
	if _, err := netip.ParseAddr(strings.Trim(name, "[]")); err == nil && !strings.HasPrefix(h, "*.") {
		return nil
	}
	if name == "" || len(name) > 253 || strings.ContainsAny(name, "/:@*?#[] ") {
		return errors.New("want a host name, *.domain, an IP address, a CIDR, s3://BUCKET or s3://BUCKET@HOST")
	}
	return nil
}

// validBucket is S3's rule for bucket names, loosely: 3-63 characters of
// lowercase letters, digits, dots and hyphens.
func validBucket(b string) bool {
	if len(b) < 3 || len(b) > 63 {
		return false
	}
	for _, r := range b {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '.' && r != '-' {
			return false
		}
	}
	return true
}

// Resolver is the part of *net.Resolver the policy uses.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Check refuses host unless the policy allows it, resolving names.
func (p *Policy) Check(ctx context.Context, host string) error {
	if p == nil || host == "" {
		return nil
	}
	return p.check(ctx, host, false)
}

// CheckDestination refuses the destination u unless the policy allows the
// host a transport for it connects to: u's host, or for s3:// the host of
// endpoint (AWS's endpoint for region when endpoint is empty), allowlisted
// either as a host or, for s3, by its bucket.
func (p *Policy) CheckDestination(ctx context.Context, u *url.URL, endpoint, region string) error {
	if p == nil {
		return nil
	}
	if u.Scheme != "s3" {
		if err := p.Check(ctx, u.Hostname()); err != nil {
			return err
		}
		return p.Check(ctx, endpointHost(endpoint))
	}
	host, err := s3Host(endpoint, region)
	if err != nil {
		return Permanent(err)
	}
	return p.check(ctx, host, p.bucketListed(u.Hostname(), endpoint != "", host))
}

// check resolves host and applies the allowlist (unless preListed, an
// entry already allowed the destination) and the private-address rule.
func (p *Policy) check(ctx context.Context, host string, preListed bool) error {
	addrs, err := p.resolve(ctx, host)
	if err != nil {
		return fmt.Errorf("destination host %q: %w", host, err)
	}
	if len(p.Hosts) > 0 && !preListed && !p.listed(host, addrs) {
		return Permanent(fmt.Errorf("destination host %q is not in the allowed destinations", host))
	}
	if !p.AllowPrivate {
		for _, a := range addrs {
			if private(a) {
				return Permanent(fmt.Errorf("destination host %q resolves to %s, a private or loopback address; the operator must allow private destinations", host, a))
			}
		}
	}
	return nil
}

// s3Host is the host an S3 transport connects to.
func s3Host(endpoint, region string) (string, error) {
	if endpoint != "" {
		e, err := url.Parse(endpoint)
		if err != nil || e.Hostname() == "" {
			return "", fmt.Errorf("s3: endpoint %q: want http://host:port or https://host", endpoint)
		}
		return e.Hostname(), nil
	}
	if region == "" {
		region = "us-east-1" // the s3 transport's default
	}
	for _, r := range region {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return "", fmt.Errorf("s3: region %q: want lowercase letters, digits and -, e.g. eu-west-1", region)
		}
	}
	return "s3." + region + ".amazonaws.com", nil
}

// bucketListed reports whether an "s3://BUCKET" entry (on AWS) or an
// "s3://BUCKET@HOST" entry (on the endpoint at HOST) allows bucket. A
// HOST given as a CIDR is matched when the host is an IP literal; names
// are matched as written, without resolving.
func (p *Policy) bucketListed(bucket string, hasEndpoint bool, host string) bool {
	for _, h := range p.Hosts {
		rest, ok := strings.CutPrefix(strings.ToLower(strings.TrimSpace(h)), "s3://")
		if !ok {
			continue
		}
		b, at, withHost := strings.Cut(rest, "@")
		if b != strings.ToLower(bucket) || withHost != hasEndpoint {
			continue
		}
		if !withHost || matchHost(at, strings.ToLower(host), literal(host)) {
			return true
		}
	}
	return false
}

func literal(host string) []netip.Addr {
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return []netip.Addr{a}
	}
	return nil
}

func (p *Policy) listed(host string, addrs []netip.Addr) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, h := range p.Hosts {
		h = strings.ToLower(strings.TrimSpace(h))
		if !strings.HasPrefix(h, "s3://") && matchHost(h, host, addrs) {
			return true
		}
	}
	return false
}

// matchHost matches one host entry (name, *.domain or CIDR) against host
// and its addresses.
func matchHost(entry, host string, addrs []netip.Addr) bool {
	if pfx, err := netip.ParsePrefix(entry); err == nil {
		return allIn(addrs, pfx)
	}
	if sub, ok := strings.CutPrefix(entry, "*."); ok && strings.HasSuffix(host, "."+sub) {
		return true
	}
	return entry == host
}

func allIn(addrs []netip.Addr, pfx netip.Prefix) bool {
	for _, a := range addrs {
		if !pfx.Contains(a) {
			return false
		}
	}
	return len(addrs) > 0
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

func private(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsUnspecified() || a.IsInterfaceLocalMulticast() || cgnat.Contains(a)
}

// resolve returns host's addresses: an IP literal as it is, with no
// lookup; a name through the policy's resolver.
func (p *Policy) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if addrs := literal(host); addrs != nil {
		return addrs, nil
	}
	var r Resolver = net.DefaultResolver
	if p.Resolver != nil {
		r = p.Resolver
	}
	ips, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	if len(ips) == 0 {
		return nil, errors.New("no addresses")
	}
	return ips, nil
}
