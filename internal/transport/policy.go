package transport

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Policy says which destination hosts a transport may connect to. The
// server always sets one: by default private networks are refused, so a
// partner profile cannot be used to reach into the network Syndicate runs
// in. The check runs when a transport is opened; a host whose DNS changes
// between the check and the connection is not caught.
type Policy struct {
	// AllowPrivate permits loopback, private (RFC 1918, fc00::/7),
	// link-local, CGNAT and unspecified addresses.
	AllowPrivate bool
	// Hosts, when not empty, is an allowlist: exact host names,
	// "*.example.com" for any subdomain, or CIDRs such as 203.0.113.0/24.
	Hosts []string
}

// Check refuses host unless the policy allows it, resolving names.
func (p *Policy) Check(ctx context.Context, host string) error {
	if p == nil || host == "" {
		return nil
	}
	addrs, err := resolve(ctx, host)
	if err != nil {
		return fmt.Errorf("destination host %q: %w", host, err)
	}
	if len(p.Hosts) > 0 && !p.listed(host, addrs) {
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

func (p *Policy) listed(host string, addrs []netip.Addr) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, h := range p.Hosts {
		h = strings.ToLower(h)
		if pfx, err := netip.ParsePrefix(h); err == nil {
			if allIn(addrs, pfx) {
				return true
			}
			continue
		}
		if sub, ok := strings.CutPrefix(h, "*."); ok && strings.HasSuffix(host, "."+sub) {
			return true
		}
		if h == host {
			return true
		}
	}
	return false
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

func resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return []netip.Addr{a}, nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	return ips, nil
}
