package transport_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/syndicate-media/syndicate/internal/transport"
	_ "github.com/syndicate-media/syndicate/internal/transport/local" // file://
	_ "github.com/syndicate-media/syndicate/internal/transport/sftp"  // sftp://
)

func TestValidateName(t *testing.T) {
	seg255 := strings.Repeat("s", 255)
	for _, name := range []string{
		"a.txt",
		"dir/sub/file.mxf",
		"my show/episode 1.mxf",
		"caméra/épisode-01.mxf",
		"番組/映像.mp4",
		".hidden",
		"a..b",
		seg255,
		strings.Repeat("a/", 511) + "ab", // 1024 bytes
	} {
		if err := transport.ValidateName(name); err != nil {
			t.Errorf("ValidateName(%.60q) = %v, want nil", name, err)
		}
	}
	for _, name := range []string{
		"",
		"/abs",
		"..",
		"../x",
		"a/../b",
		"a/..",
		"a//b",
		"./a",
		"a/./b",
		"a/",
		"a\\b",
		"a\x00b",
		"a\nb",
		"a\tb",
		"a\x7fb",
		seg255 + "s",                    // a 256-byte segment
		strings.Repeat("a/", 512) + "a", // 1025 bytes
	} {
		if err := transport.ValidateName(name); err == nil {
			t.Errorf("ValidateName(%.60q) = nil, want an error", name)
		}
	}
}

func TestParseURL(t *testing.T) {
	for _, c := range []struct {
		raw, scheme, user, host, path string
	}{
		{"file:///tmp/x", "file", "", "", "/tmp/x"},
		{"sftp://u@h:22/in", "sftp", "u", "h:22", "/in"},
	} {
		u, err := transport.ParseURL(c.raw)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", c.raw, err)
			continue
		}
		if u.Scheme != c.scheme || u.User.Username() != c.user || u.Host != c.host || u.Path != c.path {
			t.Errorf("ParseURL(%q) = %#v", c.raw, u)
		}
	}
	for _, c := range []struct{ raw, want string }{
		{"gopher://h/x", `unknown scheme "gopher"`},
		{"sftp://u:p@h/x", "password"},
		{"sftp://u:hunter2secret@h/x", "password"},
		{"sftp:///x", "needs a host"},
		{"sftp://u@h/x?mode=fast", "query"},
		{"file:///tmp/x#frag", "fragment"},
		{"/tmp/x", "unknown scheme"},
	} {
		u, err := transport.ParseURL(c.raw)
		if err == nil {
			t.Errorf("ParseURL(%q) = %v, want an error", c.raw, u)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseURL(%q) = %q, want it to mention %s", c.raw, err, c.want)
		}
		// The error may be logged and shown to operators: no credentials.
		for _, secret := range []string{"p@", "u:p", "hunter2secret"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("ParseURL(%q) error %q leaks the password", c.raw, err)
			}
		}
	}
}

// TestParseURLRedactsUnparsable: url.Parse's error quotes the whole URL,
// password included.
func TestParseURLRedactsUnparsable(t *testing.T) {
	for _, raw := range []string{"sftp://u:hunter2secret@h:notaport/x", "sftp://u:hunter2secret@h/x%zz"} {
		_, err := transport.ParseURL(raw)
		if err == nil {
			t.Errorf("ParseURL(%q) succeeded", raw)
		} else if strings.Contains(err.Error(), "hunter2secret") {
			t.Errorf("ParseURL(%q) error %q leaks the password", raw, err)
		}
	}
}

var registrations int

func TestRegister(t *testing.T) {
	registrations++ // the registry is global: a fresh scheme each run (-count)
	scheme := fmt.Sprintf("dup-test-%d", registrations)
	first := errors.New("first factory")
	transport.Register(scheme, func(context.Context, *url.URL, transport.Options) (transport.Transport, error) {
		return nil, first
	})
	var recovered any
	func() {
		defer func() { recovered = recover() }()
		transport.Register(scheme, func(context.Context, *url.URL, transport.Options) (transport.Transport, error) {
			return nil, errors.New("second factory")
		})
	}()
	if recovered == nil {
		t.Fatal("registering a scheme twice did not panic")
	}
	if msg := fmt.Sprint(recovered); !strings.Contains(msg, scheme) {
		t.Errorf("panic %q does not name the scheme", msg)
	}
	found := false
	for _, s := range transport.Schemes() {
		found = found || s == scheme
	}
	if !found {
		t.Errorf("Schemes() = %v, missing %s", transport.Schemes(), scheme)
	}
	// The first registration stands.
	if _, err := transport.Open(context.Background(), scheme+"://h/x", transport.Options{}); !errors.Is(err, first) {
		t.Errorf("Open(%s) = %v, want the first factory's error", scheme, err)
	}
}

func TestPermanent(t *testing.T) {
	if err := transport.Permanent(nil); err != nil {
		t.Errorf("Permanent(nil) = %v, want nil", err)
	}
	if transport.IsPermanent(nil) {
		t.Error("IsPermanent(nil) = true")
	}
	base := errors.New("login refused")
	if transport.IsPermanent(base) {
		t.Error("a plain error is permanent")
	}
	p := transport.Permanent(base)
	if !transport.IsPermanent(p) || !errors.Is(p, base) || p.Error() != base.Error() {
		t.Errorf("Permanent(err) = %v: permanent %v, wraps err %v", p, transport.IsPermanent(p), errors.Is(p, base))
	}
	wrapped := fmt.Errorf("sftp: dial h: %w", p)
	if !transport.IsPermanent(wrapped) || !errors.Is(wrapped, base) {
		t.Errorf("%%w-wrapped permanent error lost its mark: %v", wrapped)
	}
	if !transport.IsPermanent(errors.Join(errors.New("cleanup failed"), wrapped)) {
		t.Error("a joined permanent error is not permanent")
	}
	if transport.IsPermanent(fmt.Errorf("flattened: %v", p)) {
		t.Errorf("an error formatted with %%v keeps only the text; it must not stay permanent")
	}
}
