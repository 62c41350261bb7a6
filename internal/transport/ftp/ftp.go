// Package ftp delivers to an FTP server (ftp://user@host:port/dir), or to
// one that speaks explicit FTPS (ftps://: AUTH TLS on the control
// connection, then TLS on every data connection), logging in with the
// partner's password.
//
// The URL path is the destination root, taken as absolute as for sftp://;
// "/" or an empty path means the login directory (the chroot on most
// servers). For ftps:// the server certificate is checked against the
// system roots, or against a pin (Options.HostKey, "SHA256:" and the
// base64 of the sha256 of the leaf certificate's DER) instead of the chain.
//
// FTP has no typed failures beyond its reply codes: 530, 552 and 553 (and
// 550 on create) are permanent, 4xx replies and broken connections are
// worth a retry.
package ftp

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"net/url"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/syndicate-media/syndicate/internal/transport"
)

const defaultTimeout = 30 * time.Second

func init() {
	for _, scheme := range []string{"ftp", "ftps"} {
		transport.Register(scheme, func(ctx context.Context, u *url.URL, opts transport.Options) (transport.Transport, error) {
			return Dial(ctx, u, opts)
		})
	}
}

// Client writes below Root on one FTP control connection.
type Client struct {
	// Root is the remote destination directory; "" is the login directory.
	Root    string
	conn    *ftp.ServerConn
	tls     *tls.Config // nil for plain FTP
	timeout time.Duration
	opCtx   context.Context // the running call's, for dialing data connections
	dirs    map[string]bool // directories known to exist
	noMLST  bool            // the server has no usable MLST: use SIZE and MDTM
	// certOK is set once the server's certificate passed the check, so a
	// later failure is the login's, not the TLS handshake's.
	certOK atomic.Bool

	mu      sync.Mutex // guards the fields below, which abort uses from another goroutine
	ctrl    net.Conn   // the control connection, as dialed
	data    net.Conn   // the latest data connection, as dialed
	aborted bool
}

// Dial connects and logs in to the server u names. Failures retrying cannot
// fix (a refused login, an untrusted certificate, a missing secret) are
// transport.Permanent; network failures and 4xx replies are not.
func Dial(ctx context.Context, u *url.URL, opts transport.Options) (*Client, error) {
	user := u.User.Username()
	if user == "" {
		return nil, transport.Permanent(fmt.Errorf("%s: url needs a user: %s://user@host/dir", u.Scheme, u.Scheme))
	}
	pw := strings.TrimRight(string(opts.Secret), "\r\n")
	if strings.TrimSpace(pw) == "" {
		return nil, transport.Permanent(fmt.Errorf("%s: no credentials: the secret is empty", u.Scheme))
	}
	port := u.Port()
	if port == "" {
		port = "21"
	}
	addr := net.JoinHostPort(u.Hostname(), port)
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	c := &Client{Root: rootDir(u.Path), timeout: timeout, opCtx: ctx, dirs: map[string]bool{}}
	switch {
	case u.Scheme == "ftps":
		cfg, err := tlsConfig(u.Hostname(), opts, &c.certOK)
		if err != nil {
			return nil, err
		}
		c.tls = cfg
	case opts.HostKey != "":
		return nil, transport.Permanent(errors.New("ftp: host_key pins a TLS certificate, but ftp:// does not use TLS; use ftps://"))
	}

	stop := context.AfterFunc(ctx, c.abort)
	defer stop()
	dialOpts := []ftp.DialOption{ftp.DialWithDialFunc(c.dialConn)}
	if c.tls != nil {
		dialOpts = append(dialOpts, ftp.DialWithExplicitTLS(c.tls))
	}
	conn, err := ftp.Dial(addr, dialOpts...)
	if err != nil {
		c.abort()
		return nil, dialError(ctx, u.Scheme, addr, err)
	}
	if err := conn.Login(user, pw); err != nil {
		c.abort()
		return nil, loginError(ctx, u.Scheme, user, addr, err, c.tls == nil || c.certOK.Load())
	}
	if !stop() { // ctx ended just now and closed the connection
		c.abort()
		return nil, fmt.Errorf("%s: dial %s: %w", u.Scheme, addr, ctx.Err())
	}
	c.conn = conn
	return c, nil
}

func rootDir(p string) string {
	root := path.Clean(p)
	if root == "/" || root == "." {
		return ""
	}
	return root
}

// tlsConfig checks the server against the system roots, a pin, or nothing
// when explicitly asked, and sets accepted once a certificate passed.
func tlsConfig(host string, opts transport.Options, accepted *atomic.Bool) (*tls.Config, error) {
	cfg := &tls.Config{
		ServerName: host,
		MinVersion: tls.VersionTLS12,
		// vsftpd 3.0.3 (Debian 11 and 12) talking TLS 1.3 to Go ends uploads
		// with "426 Failure reading network stream" and a truncated file;
		// TLS 1.2 works with every server.
		MaxVersion: tls.VersionTLS12,
		// Data connections resume the control connection's TLS session
		// (the cache is keyed by ServerName, the same for both): vsftpd's
		// default require_ssl_reuse=YES refuses data connections that don't.
		ClientSessionCache: tls.NewLRUClientSessionCache(4),
	}
	var check func(tls.ConnectionState) error
	switch {
	case opts.HostKey != "":
		want, err := parsePin(opts.HostKey)
		if err != nil {
			return nil, err
		}
		// The pin replaces the chain check, so a partner's self-signed
		// certificate can be trusted as it is.
		cfg.InsecureSkipVerify = true
		check = func(cs tls.ConnectionState) error {
			got := "no certificate"
			if len(cs.PeerCertificates) > 0 {
				got = Pin(cs.PeerCertificates[0].Raw)
			}
			if got != want {
				return &pinError{host: host, want: strings.TrimSpace(opts.HostKey), got: got}
			}
			return nil
		}
	case opts.InsecureIgnoreHostKey:
		cfg.InsecureSkipVerify = true
	}
	// Runs after the chain check too, on full and resumed handshakes.
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if check != nil {
			if err := check(cs); err != nil {
				return err
			}
		}
		accepted.Store(true)
		return nil
	}
	return cfg, nil
}

// Pin is how a certificate is pinned in Options.HostKey: "SHA256:" and the
// standard base64 of the sha256 of its DER bytes, what
// `openssl x509 -outform der | openssl dgst -sha256 -binary | base64` prints.
func Pin(der []byte) string {
	sum := sha256.Sum256(der)
	return "SHA256:" + base64.StdEncoding.EncodeToString(sum[:])
}

// parsePin checks a configured pin and returns it in Pin's form, accepting
// base64 without padding as OpenSSH prints fingerprints.
func parsePin(s string) (string, error) {
	b64, ok := strings.CutPrefix(strings.TrimSpace(s), "SHA256:")
	if ok {
		if sum, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(b64, "=")); err == nil && len(sum) == sha256.Size {
			return "SHA256:" + base64.StdEncoding.EncodeToString(sum), nil
		}
	}
	return "", transport.Permanent(fmt.Errorf("ftps: host_key %q is not a certificate pin: want SHA256: and the base64 of the certificate's sha256", s))
}

type pinError struct{ host, want, got string }

func (e *pinError) Error() string {
	return fmt.Sprintf("ftps: certificate pin mismatch for %s: expected %s, got %s", e.host, e.want, e.got)
}

// dialConn dials the control connection (first call) and each data
// connection, which it wraps in TLS for ftps: jlaffaye/ftp leaves that to a
// custom dial function. Dialing here lets abort close both.
func (c *Client) dialConn(network, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: c.timeout}
	nc, err := d.DialContext(c.opCtx, network, addr)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	aborted, control := c.aborted, c.ctrl == nil
	if control {
		c.ctrl = nc
	} else {
		c.data = nc
	}
	c.mu.Unlock()
	if aborted {
		_ = nc.Close()
		return nil, net.ErrClosed
	}
	var conn net.Conn = idleConn{nc, c.timeout}
	if !control && c.tls != nil {
		conn = tls.Client(conn, c.tls)
	}
	return conn, nil
}

// idleConn fails a read or write that makes no progress for timeout, so a
// server that stops answering cannot hold a delivery forever. The deadline
// is set when a call starts: time spent between calls does not count.
type idleConn struct {
	net.Conn
	timeout time.Duration
}

func (c idleConn) Read(p []byte) (int, error) {
	_ = c.Conn.SetReadDeadline(time.Now().Add(c.timeout))
	return c.Conn.Read(p)
}

func (c idleConn) Write(p []byte) (int, error) {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(c.timeout))
	return c.Conn.Write(p)
}

// abort closes the control and data connections: jlaffaye/ftp takes no
// context, and a closed connection is the only way to interrupt a call.
// The Client is unusable afterwards.
func (c *Client) abort() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.aborted = true
	for _, nc := range []net.Conn{c.ctrl, c.data} {
		if nc != nil {
			_ = nc.Close()
		}
	}
}

// watch aborts the connection if ctx ends before the returned stop is
// called.
func (c *Client) watch(ctx context.Context) (stop func() bool) {
	c.opCtx = ctx
	return context.AfterFunc(ctx, c.abort)
}

// replyCode is the FTP reply code err carries, or 0.
func replyCode(err error) int {
	if te, ok := errors.AsType[*textproto.Error](err); ok {
		return te.Code
	}
	return 0
}

// isNetwork reports a failure of the connection itself, worth a retry.
func isNetwork(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// tlsAlert reports an alert the peer sent: crypto/tls returns it as a
// net.OpError, yet it is a refusal, not a broken connection.
func tlsAlert(err error) bool {
	oe, ok := errors.AsType[*net.OpError](err)
	return ok && oe.Op == "remote error"
}

// tlsRefused reports a certificate the client would not accept, wrapped as
// permanent; the message names the certificate's pin so an operator can
// check it with the partner and pin it.
func tlsRefused(host string, err error) error {
	if pe, ok := errors.AsType[*pinError](err); ok {
		return transport.Permanent(pe)
	}
	if ve, ok := errors.AsType[*tls.CertificateVerificationError](err); ok {
		pin := "unknown"
		if len(ve.UnverifiedCertificates) > 0 {
			pin = Pin(ve.UnverifiedCertificates[0].Raw)
		}
		return transport.Permanent(fmt.Errorf("ftps: refusing the certificate of %s: %w; its pin is %s: set host_key: %q on the destination after checking it with the partner", host, err, pin, pin))
	}
	return nil
}

// dialError classifies a failure before login: a 5xx reply to the greeting
// or to AUTH TLS (no FTPS on that server) will not change on a retry.
func dialError(ctx context.Context, scheme, addr string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s: dial %s: %w", scheme, addr, ctx.Err())
	}
	if code := replyCode(err); code >= 500 {
		return transport.Permanent(fmt.Errorf("%s: dial %s: %w", scheme, addr, err))
	}
	return fmt.Errorf("%s: dial %s: %w", scheme, addr, err)
}

// loginError classifies a failed login. The TLS handshake of ftps runs
// here too, on the first command after AUTH TLS; certOK says it got past
// the certificate (always true for plain FTP).
func loginError(ctx context.Context, scheme, user, addr string, err error, certOK bool) error {
	host, _, _ := net.SplitHostPort(addr)
	refused := tlsRefused(host, err)
	switch code := replyCode(err); {
	case ctx.Err() != nil:
		return fmt.Errorf("%s: login at %s: %w", scheme, addr, ctx.Err())
	case refused != nil:
		return refused
	case code == ftp.StatusNotLoggedIn:
		return transport.Permanent(fmt.Errorf("%s: login refused for user %q at %s: %w", scheme, user, addr, err))
	case code >= 500: // e.g. PBSZ or PROT refused, or 534: policy requires TLS
		return transport.Permanent(fmt.Errorf("%s: login at %s: %w", scheme, addr, err))
	case !certOK && (tlsAlert(err) || !isNetwork(err)):
		// The server refused what the client offered (no common TLS version
		// or cipher), or the client what the server sent.
		return transport.Permanent(fmt.Errorf("%s: TLS handshake with %s: %w", scheme, addr, err))
	case code >= 400 || isNetwork(err):
		return fmt.Errorf("%s: login at %s: %w", scheme, addr, err)
	}
	// jlaffaye/ftp reports a refused USER (and, rarely, OPTS UTF8) as a bare
	// message, code dropped; servers answer USER with 331 for any name, so
	// this is a refusal of the account itself (a deny list, anonymous-only),
	// not a passing fault.
	return transport.Permanent(fmt.Errorf("%s: login refused for user %q at %s: %w", scheme, user, addr, err))
}

// fail wraps err from op on name, marking what retrying cannot fix
// permanent, and adding ctx's error when ctx ended the call (abort closed
// the connection, so err alone would read "use of closed connection").
func (c *Client) fail(ctx context.Context, op, name string, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("ftp: %s %s: %w (%w)", op, name, cerr, err)
	}
	switch replyCode(err) {
	case ftp.StatusExceededStorage:
		return transport.Permanent(fmt.Errorf("ftp: %s %s: over the partner's quota or storage limit: %w", op, name, err))
	case ftp.StatusNotLoggedIn:
		return transport.Permanent(fmt.Errorf("ftp: %s %s: not logged in: %w", op, name, err))
	}
	return fmt.Errorf("ftp: %s %s: %w", op, name, err)
}

// path maps a validated name below Root.
func (c *Client) path(name string) (string, error) {
	if err := transport.ValidateName(name); err != nil {
		return "", transport.Permanent(fmt.Errorf("ftp: %w", err))
	}
	if c.Root == "" {
		return name, nil
	}
	return path.Join(c.Root, name), nil
}

// parents lists dir and each directory above it, outermost first: "a/b" →
// "a", "a/b"; "/x/y" → "/x", "/x/y".
func parents(dir string) []string {
	if dir == "." || dir == "/" || dir == "" {
		return nil
	}
	var out []string
	for i := 1; i <= len(dir); i++ {
		if i == len(dir) || dir[i] == '/' {
			out = append(out, dir[:i])
		}
	}
	return out
}

// mkdirAll creates dir and its parents. FTP answers "exists" and
// "permission denied" alike (550), so refusals are not errors here: the
// STOR that follows reports a real one. The refusal is returned to add to it.
func (c *Client) mkdirAll(dir string) (refused, err error) {
	for _, d := range parents(dir) {
		if c.dirs[d] {
			continue
		}
		if err := c.conn.MakeDir(d); err != nil {
			if replyCode(err) == 0 {
				return nil, err
			}
			refused = fmt.Errorf("mkdir %s: %w", d, err)
		}
	}
	return refused, nil
}

// Put writes r to name, creating parent directories. The delivery step
// writes to a temporary name and renames.
func (c *Client) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	return c.PutFrom(ctx, name, 0, r, size)
}

// Committed is the remote size: an FTP upload is one sequential stream, so
// every byte before the end is there.
func (c *Client) Committed(ctx context.Context, name string) (int64, error) {
	fi, err := c.Stat(ctx, name)
	if errors.Is(err, transport.ErrNotFound) {
		return 0, nil
	}
	return fi.Size, err
}

// PutFrom writes r into name from offset on (0 starts a new file) with
// REST offset + STOR. FTP cannot truncate, so when a resumed upload does
// not end at size the file is removed and the error says so: a retry then
// starts over instead of resuming a file that can never come out right.
func (c *Client) PutFrom(ctx context.Context, name string, offset int64, r io.Reader, size int64) error {
	p, err := c.path(name)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ftp: put %s: %w", name, err)
	}
	defer c.watch(ctx)()
	var refused error
	if offset == 0 {
		if refused, err = c.mkdirAll(path.Dir(p)); err != nil {
			return c.fail(ctx, "mkdir for", name, err)
		}
	} else if err := c.holds(p, offset); err != nil {
		// REST past the end would leave a hole of zeros on most servers.
		return c.fail(ctx, fmt.Sprintf("resume from byte %d of", offset), name, err)
	}
	if err := c.conn.StorFrom(p, transport.ContextReader(ctx, r), uint64(offset)); err != nil {
		return c.storError(ctx, name, err, refused)
	}
	for _, d := range parents(path.Dir(p)) {
		c.dirs[d] = true
	}
	if offset == 0 || size < 0 {
		return nil
	}
	fi, err := c.stat(p)
	if err != nil {
		return c.fail(ctx, "stat after resume of", name, err)
	}
	if got := fi.Size; got != size {
		if derr := c.conn.Delete(p); derr != nil {
			return c.fail(ctx, "remove after a bad resume of", name, derr)
		}
		return fmt.Errorf("ftp: resumed upload of %s from %d ended at %d bytes, want %d; removed it so the next attempt starts over", name, offset, got, size)
	}
	return nil
}

// holds checks that p has at least n bytes.
func (c *Client) holds(p string, n int64) error {
	fi, err := c.stat(p)
	if err == nil && fi.Size < n {
		err = fmt.Errorf("the server holds only %d bytes", fi.Size)
	}
	return err
}

// storError classifies a failed STOR: 550 and 553 mean the server will not
// create the file there, which a retry does not change.
func (c *Client) storError(ctx context.Context, name string, err, refused error) error {
	if ctx.Err() != nil {
		return c.fail(ctx, "put", name, err)
	}
	if refused != nil {
		err = fmt.Errorf("%w (after %v)", err, refused)
	}
	switch replyCode(err) {
	case ftp.StatusFileUnavailable, ftp.StatusBadFileName:
		return transport.Permanent(fmt.Errorf("ftp: create %s: permission denied or no such directory: %w", name, err))
	}
	return c.fail(ctx, "put", name, err)
}

// Stat reports name's size and modification time, from MLST where the
// server offers it, else from SIZE and MDTM.
func (c *Client) Stat(ctx context.Context, name string) (transport.FileInfo, error) {
	p, err := c.path(name)
	if err != nil {
		return transport.FileInfo{}, err
	}
	defer c.watch(ctx)()
	fi, err := c.stat(p)
	if errors.Is(err, transport.ErrNotFound) {
		return transport.FileInfo{}, fmt.Errorf("ftp: %s: %w", name, transport.ErrNotFound)
	}
	if err != nil {
		return transport.FileInfo{}, c.fail(ctx, "stat", name, err)
	}
	fi.Name = name
	return fi, nil
}

// stat returns transport.ErrNotFound for a 550 reply, the RFC 3659 answer
// for a missing file to both MLST and SIZE.
func (c *Client) stat(p string) (transport.FileInfo, error) {
	if !c.noMLST {
		e, err := c.conn.GetEntry(p)
		code := replyCode(err)
		switch {
		case err == nil:
			return transport.FileInfo{Size: int64(e.Size), ModTime: e.Time}, nil
		case code == ftp.StatusFileUnavailable:
			return transport.FileInfo{}, transport.ErrNotFound
		case code >= 400 && code < 500, isNetwork(err):
			return transport.FileInfo{}, err
		}
		c.noMLST = true // not offered, or a reply jlaffaye/ftp cannot parse
	}
	size, err := c.conn.FileSize(p)
	if replyCode(err) == ftp.StatusFileUnavailable {
		return transport.FileInfo{}, transport.ErrNotFound
	}
	if err != nil {
		return transport.FileInfo{}, err
	}
	fi := transport.FileInfo{Size: size}
	if c.conn.IsGetTimeSupported() {
		t, err := c.conn.GetTime(p)
		if isNetwork(err) {
			return transport.FileInfo{}, err
		}
		fi.ModTime = t // zero if the server would not say
	}
	return fi, nil
}

// missing reports whether p is gone, to tell a refused command on a
// missing file from one refused for another reason: FTP answers 550 to both.
func (c *Client) missing(p string) bool {
	_, err := c.stat(p)
	return errors.Is(err, transport.ErrNotFound)
}

// Remove deletes name; a missing file is not an error.
func (c *Client) Remove(ctx context.Context, name string) error {
	p, err := c.path(name)
	if err != nil {
		return err
	}
	defer c.watch(ctx)()
	if err := c.conn.Delete(p); err != nil {
		if replyCode(err) >= 400 && c.missing(p) {
			return nil
		}
		return c.fail(ctx, "remove", name, err)
	}
	return nil
}

// Rename moves from to to, replacing to. Unix servers rename(2), which
// replaces; servers that refuse an existing target get it removed first.
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
	err = c.conn.Rename(pf, pt)
	// Only with the source there: RNFR of a missing file fails too, and
	// removing the target then would lose the partner's file for nothing.
	if err != nil && replyCode(err) >= 500 && !c.missing(pf) && !c.missing(pt) {
		if derr := c.conn.Delete(pt); derr != nil {
			return c.fail(ctx, "rename: remove target", to, derr)
		}
		err = c.conn.Rename(pf, pt)
	}
	if err != nil {
		return c.fail(ctx, "rename", from, err)
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
	rc, err := c.conn.Retr(p)
	if err != nil {
		if replyCode(err) >= 400 && c.missing(p) {
			return nil, fmt.Errorf("ftp: %s: %w", name, transport.ErrNotFound)
		}
		return nil, c.fail(ctx, "open", name, err)
	}
	return rc, nil
}

// Close ends the session with QUIT and closes the connection.
func (c *Client) Close() error {
	err := c.conn.Quit()
	c.abort()
	if err != nil && !isNetwork(err) { // already gone, e.g. closed when a ctx ended
		return fmt.Errorf("ftp: close: %w", err)
	}
	return nil
}

var (
	_ transport.Transport = (*Client)(nil)
	_ transport.Renamer   = (*Client)(nil)
	_ transport.Opener    = (*Client)(nil)
	_ transport.Resumer   = (*Client)(nil)
)
