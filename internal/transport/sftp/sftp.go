// Package sftp delivers to an SFTP server (sftp://user@host:port/dir) over
// SSH, authenticating with the partner's private key or password and
// refusing any server whose host key has not been pinned.
//
// The URL path is the destination root, taken as absolute; "/" or an empty
// path means the login directory. Uploads use pkg/sftp's concurrent writes:
// one request at a time is several times slower on any real link.
package sftp

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/syndicate-media/syndicate/internal/transport"
)

const (
	// maxPacket is the largest write OpenSSH accepts; 262,144 makes it drop
	// the connection.
	maxPacket      = 261120
	maxConcurrency = 64
	defaultTimeout = 30 * time.Second
)

func init() {
	transport.Register("sftp", func(ctx context.Context, u *url.URL, opts transport.Options) (transport.Transport, error) {
		return Dial(ctx, u, opts)
	})
}

// Client writes below Root over one SFTP connection, and a large file
// over up to streams connections (see stripe.go).
type Client struct {
	// Root is the remote destination directory; "" is the login directory.
	Root string
	conn *ssh.Client
	sftp *sftp.Client

	// streams is destination.streams; 0 (the default) is decided by
	// the round trip before the first large file (see autoStreams).
	streams int
	rtt     time.Duration                          // measured when streams was left to the default
	dial    func(context.Context) (session, error) // another connection like the first
	mu      sync.Mutex
	extra   []session // connections beyond the first, dialed for the first large file
	// dialErr is why a further login failed; once set, no more are tried.
	dialErr error
	// truncates is set once the server was seen to truncate files it
	// opens for writing: no more striped uploads (each stripe worker opens
	// a handle of its own).
	truncates bool
}

// Dial connects and logs in to the server u names. Failures retrying cannot
// fix (a refused login, an unknown or changed host key, a missing secret)
// are transport.Permanent; network failures are not.
func Dial(ctx context.Context, u *url.URL, opts transport.Options) (*Client, error) {
	if opts.Streams < 0 || opts.Streams > MaxStreams {
		return nil, transport.Permanent(fmt.Errorf("sftp: streams %d: want 1-%d (0: the default)", opts.Streams, MaxStreams))
	}
	s, err := dialSession(ctx, u, opts)
	if err != nil {
		return nil, err
	}
	root := path.Clean(u.Path)
	if root == "/" || root == "." {
		root = ""
	}
	c := &Client{Root: root, conn: s.conn, sftp: s.sftp, streams: opts.Streams}
	c.dial = func(ctx context.Context) (session, error) { return dialSession(ctx, u, opts) }
	return c, nil
}

// dialSession connects, logs in and starts the SFTP subsystem.
func dialSession(ctx context.Context, u *url.URL, opts transport.Options) (session, error) {
	user := u.User.Username()
	if user == "" {
		return session{}, transport.Permanent(errors.New("sftp: url needs a user: sftp://user@host/dir"))
	}
	port := u.Port()
	if port == "" {
		port = "22"
	}
	addr := net.JoinHostPort(u.Hostname(), port)
	auth, err := authMethods(opts.Secret)
	if err != nil {
		return session{}, err
	}
	var keyAccepted atomic.Bool
	hostKey, known, err := hostKeyCallback(opts, &keyAccepted)
	if err != nil {
		return session{}, err
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}

	d := net.Dialer{Timeout: timeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return session{}, fmt.Errorf("sftp: dial %s: %w", addr, err)
	}
	// ssh.ClientConfig.Timeout covers only the TCP connect; bound the
	// handshake and the SFTP init too, and give up when ctx ends.
	_ = nc.SetDeadline(time.Now().Add(timeout))
	stop := context.AfterFunc(ctx, func() { _ = nc.Close() })
	defer stop()

	cfg := &ssh.ClientConfig{User: user, Auth: auth, HostKeyCallback: hostKey,
		HostKeyAlgorithms: hostKeyAlgorithms(known, addr, nc.RemoteAddr())}
	cc, chans, reqs, err := ssh.NewClientConn(nc, addr, cfg)
	if err != nil {
		_ = nc.Close()
		return session{}, handshakeError(ctx, err, user, addr, keyAccepted.Load())
	}
	conn := ssh.NewClient(cc, chans, reqs)
	sc, err := sftp.NewClient(conn,
		sftp.UseConcurrentWrites(true),
		sftp.MaxConcurrentRequestsPerFile(maxConcurrency),
		sftp.MaxPacketUnchecked(maxPacket),
		// Concurrent reads take a short reply for end of file, so a server
		// that caps reads below maxPacket (pkg/sftp's own: 32,768) would
		// silently truncate what Open returns. Sequential reads loop instead.
		sftp.UseConcurrentReads(false),
	)
	if err == nil && !stop() {
		err = ctx.Err() // ctx ended just now and closed the connection
	}
	if err != nil {
		_ = conn.Close()
		return session{}, fail(ctx, "start subsystem at", addr, err)
	}
	_ = nc.SetDeadline(time.Time{})
	return session{conn: conn, sftp: sc}, nil
}

// handshakeError classifies a failed SSH handshake. x/crypto has no typed
// error for a refused login, but one is any failure after the server proved
// its key that is not the connection breaking.
func handshakeError(ctx context.Context, err error, user, addr string, keyAccepted bool) error {
	var refused *transport.PermanentError
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("sftp: dial %s: %w", addr, ctx.Err())
	case errors.As(err, &refused): // from hostKeyCallback
		return refused
	case keyAccepted && !isNetwork(err):
		return transport.Permanent(fmt.Errorf("sftp: login refused for user %q at %s: %w", user, addr, err))
	}
	return fmt.Errorf("sftp: dial %s: %w", addr, err)
}

// authMethods turns the secret into public-key auth if it parses as a
// private key, else into password auth. The secret never enters an error.
func authMethods(secret []byte) ([]ssh.AuthMethod, error) {
	if len(bytes.TrimSpace(secret)) == 0 {
		return nil, transport.Permanent(errors.New("sftp: no credentials: the secret is empty"))
	}
	signer, err := ssh.ParsePrivateKey(secret)
	if err == nil {
		return []ssh.AuthMethod{ssh.PublicKeys(signer)}, nil
	}
	var encrypted *ssh.PassphraseMissingError
	if errors.As(err, &encrypted) || bytes.HasPrefix(bytes.TrimSpace(secret), []byte("-----BEGIN")) {
		return nil, transport.Permanent(errors.New("sftp: the secret looks like a private key but cannot be used (passphrase-protected or malformed)"))
	}
	pw := strings.TrimSuffix(string(secret), "\n")
	// Servers that check passwords through PAM often offer only
	// keyboard-interactive; answer its prompts with the password.
	answer := func(_, _ string, questions []string, _ []bool) ([]string, error) {
		answers := make([]string, len(questions))
		for i := range answers {
			answers[i] = pw
		}
		return answers, nil
	}
	return []ssh.AuthMethod{ssh.Password(pw), ssh.KeyboardInteractive(answer)}, nil
}

// hostKeyCallback checks the server key against a pinned fingerprint, a
// known_hosts file, or nothing when explicitly asked. With no policy it
// refuses, naming the key's fingerprint so the operator can pin it. known is
// the known_hosts check when that is the policy.
func hostKeyCallback(opts transport.Options, accepted *atomic.Bool) (cb, known ssh.HostKeyCallback, err error) {
	var check ssh.HostKeyCallback
	switch {
	case opts.HostKey != "":
		want := strings.TrimSpace(opts.HostKey)
		check = func(host string, _ net.Addr, key ssh.PublicKey) error {
			if got := ssh.FingerprintSHA256(key); got != want {
				return fmt.Errorf("sftp: host key mismatch for %s: expected %s, got %s (%s)", host, want, got, key.Type())
			}
			return nil
		}
	case opts.KnownHosts != "":
		if known, err = knownhosts.New(opts.KnownHosts); err != nil {
			return nil, nil, transport.Permanent(fmt.Errorf("sftp: known_hosts: %w", err))
		}
		check = func(host string, remote net.Addr, key ssh.PublicKey) error {
			if err := known(host, remote, key); err != nil {
				return fmt.Errorf("sftp: host key of %s (%s) not accepted by %s: %w", host, ssh.FingerprintSHA256(key), opts.KnownHosts, err)
			}
			return nil
		}
	case opts.InsecureIgnoreHostKey:
		check = ssh.InsecureIgnoreHostKey()
	default:
		check = func(host string, _ net.Addr, key ssh.PublicKey) error {
			fp := ssh.FingerprintSHA256(key)
			return fmt.Errorf("sftp: refusing %s: no host key is pinned; the server's key is %s, set host_key: %q on the destination (or known_hosts) after checking it with the partner", host, fp, fp)
		}
	}
	return func(host string, remote net.Addr, key ssh.PublicKey) error {
		if err := check(host, remote, key); err != nil {
			return transport.Permanent(err)
		}
		accepted.Store(true)
		return nil
	}, known, nil
}

// hostKeyAlgorithms asks for server keys in OpenSSH's order, ed25519 first,
// so the key checked is the one an operator saw with ssh: x/crypto alone
// prefers ECDSA, and a pin or known_hosts line for the server's ed25519 key
// would then "mismatch". As in OpenSSH, types known_hosts holds go first.
func hostKeyAlgorithms(known ssh.HostKeyCallback, addr string, remote net.Addr) []string {
	algos := []string{ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
		ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	if known == nil {
		return algos
	}
	// Checking a key no file holds makes knownhosts list those it has.
	pub, _, _ := ed25519.GenerateKey(nil)
	probe, _ := ssh.NewPublicKey(pub)
	var ke *knownhosts.KeyError
	if !errors.As(known(addr, remote, probe), &ke) {
		return algos
	}
	var first []string
	for _, k := range ke.Want {
		if t := k.Key.Type(); t == ssh.KeyAlgoRSA { // an RSA key signs with any of these
			first = append(first, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
		} else {
			first = append(first, t)
		}
	}
	var out []string
	for _, a := range append(first, algos...) {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// isNetwork reports a failure of the connection itself, worth a retry.
func isNetwork(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET)
}

// path maps a validated name below Root.
func (c *Client) path(name string) (string, error) {
	if err := transport.ValidateName(name); err != nil {
		return "", transport.Permanent(fmt.Errorf("sftp: %w", err))
	}
	if c.Root == "" {
		return name, nil
	}
	return path.Join(c.Root, name), nil
}

// watch closes the connection if ctx ends before the returned stop is
// called: pkg/sftp calls take no context, and a closed connection is the
// only way to interrupt one. The Client is unusable afterwards.
func (c *Client) watch(ctx context.Context) (stop func() bool) {
	return context.AfterFunc(ctx, func() {
		_ = c.conn.Close()
		c.mu.Lock()
		for _, s := range c.extra {
			_ = s.conn.Close()
		}
		c.mu.Unlock()
	})
}

// fail wraps err, and ctx's error too when ctx ended the call (the watcher
// closed the connection, so err alone would read "connection lost").
func fail(ctx context.Context, op, name string, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("sftp: %s %s: %w (%w)", op, name, cerr, err)
	}
	return fmt.Errorf("sftp: %s %s: %w", op, name, err)
}

// Put writes r to name through concurrent requests, creating parent
// directories. The delivery step writes to a temporary name and renames.
func (c *Client) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	return c.PutFrom(ctx, name, 0, r, size)
}

// safetyWindow is how far before the remote size a resumed upload starts
// again: with concurrent writes, the requests in flight when the
// connection broke may have left holes just below the highest offset.
const safetyWindow = maxConcurrency * maxPacket

// Committed is the remote size less the safety window.
func (c *Client) Committed(ctx context.Context, name string) (int64, error) {
	fi, err := c.Stat(ctx, name)
	if errors.Is(err, transport.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return max(fi.Size-safetyWindow, 0), nil
}

// flagsWrite opens an existing file to write into it.
const flagsWrite = os.O_WRONLY

// PutFrom writes r into name from offset on (0 starts a new file), over
// several connections when the file is large (stripe.go).
func (c *Client) PutFrom(ctx context.Context, name string, offset int64, r io.Reader, size int64) error {
	p, err := c.path(name)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sftp: put %s: %w", name, err)
	}
	defer c.watch(ctx)()
	if dir := path.Dir(p); dir != "." && dir != "/" {
		if err := c.sftp.MkdirAll(dir); err != nil {
			return fail(ctx, "mkdir for", name, err)
		}
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if offset > 0 {
		flags = flagsWrite
	}
	c.mu.Lock()
	truncates := c.truncates
	c.mu.Unlock()
	if c.striped(offset, size) && !truncates && c.autoStreams() > 1 {
		return c.putStriped(ctx, p, name, flags, offset, r, size)
	}
	return c.putOne(ctx, p, name, flags, offset, r, size)
}

// putOne writes r into p from offset over the primary connection, with
// pkg/sftp's concurrent writes. It opens without O_APPEND and seeks:
// servers differ on O_APPEND, and the pkg/sftp server ignores it.
func (c *Client) putOne(ctx context.Context, p, name string, flags int, offset int64, r io.Reader, size int64) error {
	f, err := c.sftp.OpenFile(p, flags)
	if err != nil {
		return fail(ctx, "create", name, err)
	}
	if offset > 0 {
		if err := holds(ctx, f, name, offset); err != nil {
			_ = f.Close()
			return err
		}
	}
	return c.writeOver(ctx, f, name, offset, r, size)
}

// writeOver writes r into the open f from offset with pkg/sftp's
// concurrent writes, truncates a resumed file to size, and closes f.
func (c *Client) writeOver(ctx context.Context, f *sftp.File, name string, offset int64, r io.Reader, size int64) error {
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			_ = f.Close()
			return fail(ctx, "seek", name, err)
		}
	}
	// ReadFrom on a reader of unknown size sends one request at a time.
	if _, err := f.ReadFromWithConcurrency(transport.ContextReader(ctx, r), maxConcurrency); err != nil {
		_ = f.Close()
		return fail(ctx, "write", name, offsetRefused(err, offset))
	}
	if size >= 0 && offset > 0 {
		if err := f.Truncate(size); err != nil {
			_ = f.Close()
			return fail(ctx, "truncate", name, err)
		}
	}
	if err := f.Close(); err != nil {
		return fail(ctx, "close", name, err)
	}
	return nil
}

// holds checks, on the handle just opened for writing, that the file
// still holds the offset bytes a resume keeps: a server may truncate
// every file it opens for writing, and stat by name before the open
// cannot see that. A short file wraps transport.ErrResumeRefused.
func holds(ctx context.Context, f *sftp.File, name string, offset int64) error {
	fi, err := f.Stat() // fstat of the open handle
	if err != nil {
		return fail(ctx, "fstat", name, err)
	}
	if fi.Size() < offset {
		return fmt.Errorf("sftp: resume %s at byte %d: the file opened for writing holds %d bytes (the server truncates files it opens?): %w",
			name, offset, fi.Size(), transport.ErrResumeRefused)
	}
	return nil
}

// offsetRefused marks the server's refusal (an SFTP status, not a broken
// connection) of a write that resumes at offset, so the caller sends the
// whole file instead of the same offset again.
func offsetRefused(err error, offset int64) error {
	var st *sftp.StatusError
	if offset > 0 && errors.As(err, &st) {
		return fmt.Errorf("write at offset %d refused: %w (%w)", offset, err, transport.ErrResumeRefused)
	}
	return err
}

// Stat reports name's size and modification time.
func (c *Client) Stat(ctx context.Context, name string) (transport.FileInfo, error) {
	p, err := c.path(name)
	if err != nil {
		return transport.FileInfo{}, err
	}
	defer c.watch(ctx)()
	fi, err := c.sftp.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return transport.FileInfo{}, fmt.Errorf("sftp: %s: %w", name, transport.ErrNotFound)
	}
	if err != nil {
		return transport.FileInfo{}, fail(ctx, "stat", name, err)
	}
	return transport.FileInfo{Name: name, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// Remove deletes name; a missing file is not an error.
func (c *Client) Remove(ctx context.Context, name string) error {
	p, err := c.path(name)
	if err != nil {
		return err
	}
	defer c.watch(ctx)()
	if err := c.sftp.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fail(ctx, "remove", name, err)
	}
	return nil
}

// Rename moves from to to, replacing to. With OpenSSH's posix-rename
// extension this is one atomic rename(2); plain SFTP rename refuses an
// existing target, so without it the target is removed first.
func (c *Client) Rename(ctx context.Context, from, to string) error {
	pf, err := c.path(from)
	if err != nil {
		return err
	}
	pt, err := c.path(to)
	if err != nil {
		return err
	}
	defer c.watch(ctx)()
	if _, ok := c.sftp.HasExtension("posix-rename@openssh.com"); ok {
		err = c.sftp.PosixRename(pf, pt)
	} else {
		if err := c.sftp.Remove(pt); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fail(ctx, "rename: remove target", to, err)
		}
		err = c.sftp.Rename(pf, pt)
	}
	if err != nil {
		return fail(ctx, "rename", from, err)
	}
	return nil
}

// Open reads name back.
func (c *Client) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	p, err := c.path(name)
	if err != nil {
		return nil, err
	}
	defer c.watch(ctx)()
	f, err := c.sftp.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("sftp: %s: %w", name, transport.ErrNotFound)
	}
	if err != nil {
		return nil, fail(ctx, "open", name, err)
	}
	return f, nil
}

// OpenRange reads length bytes of name from offset (fewer at its end),
// with reads at an offset on the file: the delivery step reads the seam
// of a resumed upload back this way. pkg/sftp has no check-file (and
// OpenSSH does not offer it), so the client is no Checksummer.
func (c *Client) OpenRange(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	f, err := c.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(f.(*sftp.File), offset, length), f}, nil
}

// Close ends the SFTP sessions and the SSH connections.
func (c *Client) Close() error {
	c.dropExtras()
	err := c.sftp.Close()
	if errors.Is(err, io.EOF) { // already gone, e.g. closed when a ctx ended
		err = nil
	}
	if cerr := c.conn.Close(); err == nil && !errors.Is(cerr, net.ErrClosed) {
		err = cerr
	}
	return err
}

var (
	_ transport.Transport   = (*Client)(nil)
	_ transport.Renamer     = (*Client)(nil)
	_ transport.Opener      = (*Client)(nil)
	_ transport.Resumer     = (*Client)(nil)
	_ transport.RangeOpener = (*Client)(nil)
)
