// Package transport defines how Syndicate moves a file to a partner's
// destination: a small core interface every transport implements, optional
// feature interfaces found by type assertion, and a registry keyed by URL
// scheme that each transport joins from its own package's init.
//
// The delivery step never knows which protocol it speaks: it opens a
// Transport for the partner's destination URL, writes each file under a
// temporary name with Put, and moves it into place with Rename.
package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Transport writes files below one destination root. Names are slash
// separated, relative to that root, and already validated by ValidateName.
// Implementations must be safe for use by one goroutine at a time; the
// delivery step opens one Transport per delivery.
type Transport interface {
	// Put writes everything r yields to name, replacing any existing file
	// and creating parent directories. size is the expected length or -1.
	Put(ctx context.Context, name string, r io.Reader, size int64) error
	// Stat describes name, or returns an error wrapping ErrNotFound.
	Stat(ctx context.Context, name string) (FileInfo, error)
	// Remove deletes name; removing a missing file is not an error.
	Remove(ctx context.Context, name string) error
	// Close releases the connection.
	Close() error
}

// Renamer is implemented by transports that can move a file atomically
// (or as close to it as the protocol allows), replacing the target.
type Renamer interface {
	Rename(ctx context.Context, from, to string) error
}

// Opener is implemented by transports that can read a file back. The demo
// and the conformance suite use it to check what landed at the partner.
type Opener interface {
	Open(ctx context.Context, name string) (io.ReadCloser, error)
}

// Resumer is implemented by transports that can continue an interrupted
// upload instead of starting over.
type Resumer interface {
	// Committed reports how many leading bytes of name are safely stored
	// (0 if the file does not exist); an upload may continue from there.
	Committed(ctx context.Context, name string) (int64, error)
	// PutFrom writes r into name starting at offset, keeping the first
	// offset bytes, so that name ends up size bytes long.
	PutFrom(ctx context.Context, name string, offset int64, r io.Reader, size int64) error
}

// Checksummer is implemented by transports whose server can hash a file it
// stores (FTP HASH/XSHA256 where FEAT lists them, SFTP check-file, S3
// checksums). The delivery step asks it after the final rename, so that
// "delivered" rests on what the partner holds, not on what was sent.
type Checksummer interface {
	// ServerSHA256 returns the server's sha256 of name. ok is false when
	// this server offers no such hash (the caller then verifies otherwise);
	// err is a failure to ask.
	ServerSHA256(ctx context.Context, name string) (sum []byte, ok bool, err error)
}

// RangeOpener is implemented by transports that can read part of a stored
// file back. The delivery step reads the seam of a resumed upload (the
// first block and the bytes around the resume offset) and compares them
// with the source where the server offers no hash.
type RangeOpener interface {
	// OpenRange reads length bytes of name starting at offset (fewer if
	// the file is shorter).
	OpenRange(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error)
}

// Verification says how the delivery step checked one file at the partner.
type Verification string

// The ways a file can be verified, weakest first.
const (
	// VerifiedSize: the partner holds the file at its final name with the
	// manifest's size (every transport; the floor).
	VerifiedSize Verification = "size"
	// VerifiedSeam: size, plus the first block and the bytes around the
	// resume offset of a resumed upload were read back and match the source.
	VerifiedSeam Verification = "seam read back"
	// VerifiedServerSHA256: the server's own sha256 of the file equals the
	// manifest's.
	VerifiedServerSHA256 Verification = "sha256 by server"
)

// As finds the transport implementing T: tr itself, or one it wraps. A
// wrapper (tracing, the delivery's commit guard) exposes what it wraps
// with an Unwrap() Transport method, so optional interfaces it does not
// forward stay reachable.
func As[T any](tr Transport) (T, bool) {
	for tr != nil {
		if t, ok := tr.(T); ok {
			return t, true
		}
		u, ok := tr.(interface{ Unwrap() Transport })
		if !ok {
			break
		}
		tr = u.Unwrap()
	}
	var zero T
	return zero, false
}

// FileInfo is what Stat reports about a remote file.
type FileInfo struct {
	Name    string
	Size    int64
	ModTime time.Time
}

// ErrNotFound is wrapped by Stat and Open when the file does not exist.
var ErrNotFound = errors.New("file not found")

// ErrResumeRefused is wrapped by PutFrom when the upload cannot continue at
// the offset asked: the file opened for writing holds fewer bytes than the
// offset (a server that truncates on open), or the server refused to write
// there. The caller sends the whole file again, replacing the partial one,
// and must not ask for that offset again.
var ErrResumeRefused = errors.New("resume refused")

// PermanentError marks a failure that retrying cannot fix: a refused login,
// an unknown host key, a missing secret. The delivery step stops retrying
// when errors.As finds one.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err so IsPermanent reports true. A nil err stays nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err, or anything it wraps, is permanent.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// Options carries what a transport needs besides its URL. Secrets arrive
// already resolved; transports must never log them.
type Options struct {
	// Secret is the resolved credential (password or PEM private key).
	Secret []byte
	// HostKey pins the server key, e.g. "SHA256:base64..." for SFTP.
	HostKey string
	// KnownHosts is a known_hosts file to check the server key against.
	KnownHosts string
	// InsecureIgnoreHostKey accepts any server key. Only for tests and demos.
	InsecureIgnoreHostKey bool
	// Timeout bounds connecting and each protocol round trip; 0 means 30s.
	Timeout time.Duration
	// Endpoint and Region address object stores (S3-compatible): an empty
	// Endpoint means AWS itself.
	Endpoint string
	Region   string
	// Policy, when set, limits the hosts the transport may connect to;
	// Open checks it before connecting.
	Policy *Policy
	// Streams is how many connections one large file may use where the
	// protocol gains from more (SFTP: each SSH connection has its own
	// flow-control window); 0 is the transport's default, 1 is one.
	Streams int
	// UploadTag identifies the delivery an upload belongs to. A transport
	// that keeps in-progress uploads on the server (S3 multipart) must
	// resume only uploads carrying the same tag.
	UploadTag string
}

type sizeHintKey struct{}

// WithSizeHint tells the transports that a Put of unknown size (-1) in
// ctx will send at most about n bytes: an archive built while uploading
// knows its sources, not its exact length. A transport that must choose
// a piece size before it starts (S3: at most 10,000 parts) uses it.
func WithSizeHint(ctx context.Context, n int64) context.Context {
	return context.WithValue(ctx, sizeHintKey{}, n)
}

// SizeHint is the hint WithSizeHint put in ctx, or -1.
func SizeHint(ctx context.Context) int64 {
	if n, ok := ctx.Value(sizeHintKey{}).(int64); ok && n >= 0 {
		return n
	}
	return -1
}

// Factory opens a Transport for a destination URL.
type Factory func(ctx context.Context, u *url.URL, opts Options) (Transport, error)

var (
	mu        sync.RWMutex
	factories = map[string]Factory{}
)

// Register makes a transport available for URLs with the given scheme. It
// panics on a duplicate scheme: two packages claiming one scheme is a bug.
func Register(scheme string, f Factory) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := factories[scheme]; dup {
		panic("transport: scheme registered twice: " + scheme)
	}
	factories[scheme] = f
}

// Schemes lists the registered URL schemes, sorted.
func Schemes() []string {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]string, 0, len(factories))
	for s := range factories {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// Open parses rawURL and opens the transport registered for its scheme.
func Open(ctx context.Context, rawURL string, opts Options) (Transport, error) {
	u, err := ParseURL(rawURL)
	if err != nil {
		return nil, Permanent(err)
	}
	// For s3:// the URL's host is a bucket: the policy checks the
	// endpoint the transport will connect to instead.
	if err := opts.Policy.CheckDestination(ctx, u, opts.Endpoint, opts.Region); err != nil {
		return nil, err
	}
	mu.RLock()
	f := factories[u.Scheme]
	mu.RUnlock()
	return f(ctx, u, opts)
}

func endpointHost(endpoint string) string {
	if endpoint == "" {
		return ""
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return endpoint
	}
	return u.Hostname()
}

// ParseURL parses and checks a destination URL: a registered scheme, no
// password in the URL (credentials are secret references, not URL parts),
// and a host for every scheme but file.
func ParseURL(rawURL string) (*url.URL, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Error quotes the whole URL, password included.
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		return nil, fmt.Errorf("destination url: %w", err)
	}
	mu.RLock()
	_, ok := factories[u.Scheme]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("destination url: unknown scheme %q (have %s)", u.Scheme, strings.Join(Schemes(), ", "))
	}
	if _, has := u.User.Password(); has {
		return nil, errors.New("destination url: must not contain a password; use credentials: env:NAME, file:/absolute/path or aws-ssm:/parameter/name")
	}
	if u.Scheme != "file" && u.Hostname() == "" {
		return nil, fmt.Errorf("destination url: %s needs a host", u.Scheme)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("destination url: query and fragment are not allowed")
	}
	return u, nil
}

// ValidateName checks a file name relative to a destination root: slash
// separated, not absolute, no "." or ".." segments, no empty segments, no
// control characters or backslashes, at most 255 bytes a segment.
func ValidateName(name string) error {
	if name == "" {
		return errors.New("file name is empty")
	}
	if len(name) > 1024 {
		return fmt.Errorf("file name %.40q...: longer than 1024 bytes", name)
	}
	if strings.HasPrefix(name, "/") {
		return fmt.Errorf("file name %q: must be relative", name)
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("file name %q: not valid UTF-8", name)
	}
	for _, r := range name {
		if unicode.IsControl(r) || r == '\\' {
			return fmt.Errorf("file name %q: control character or backslash", name)
		}
	}
	for seg := range strings.SplitSeq(name, "/") {
		switch {
		case seg == "" || seg == "." || seg == "..":
			return fmt.Errorf("file name %q: empty, \".\" or \"..\" segment", name)
		case len(seg) > 255:
			return fmt.Errorf("file name %q: segment longer than 255 bytes", name)
		}
	}
	if path.Clean(name) != name {
		return fmt.Errorf("file name %q: not in clean form", name)
	}
	return nil
}

// Fill reads into buf until it is full or r ends; eof reports the end. The
// transports that send fixed-size pieces (S3 parts, SFTP stripes) read
// with it.
func Fill(r io.Reader, buf []byte) (n int, eof bool, err error) {
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if errors.Is(err, io.EOF) {
			return n, true, nil
		}
		if err != nil {
			return n, false, err
		}
	}
	return n, false, nil
}

// ContextReader returns a reader that fails with ctx's error once ctx
// ends, so a copy loop over a protocol without context support stops.
func ContextReader(ctx context.Context, r io.Reader) io.Reader { return ctxReader{ctx, r} }

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
