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
// 550 on create) are permanent, 4xx replies, silence and broken
// connections are worth a retry; errors name the step that failed ("server
// did not answer PASS within 30s"). A resume the server refuses falls back
// to a whole upload (see PutFrom). Where FEAT offers HASH SHA-256 or
// XSHA256, ServerSHA256 asks the server for its own sum.
package ftp

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"net/url"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

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
	addr    string // host:port, as dialed
	host    string // the control connection's peer IP: data connections go there
	tp      *textproto.Conn
	tls     *tls.Config // nil for plain FTP
	timeout time.Duration
	opCtx   context.Context   // the running call's, for dialing data connections
	feat    map[string]string // FEAT: command → its parameters
	dirs    map[string]bool   // directories known to exist
	noMLST  bool              // the server has no usable MLST: use SIZE and MDTM
	noEPSV  bool              // the server refused EPSV: use PASV
	hashSet bool              // OPTS HASH SHA-256 accepted
	// noResume is the server's refusal of REST + STOR at an offset, once
	// seen: later resumes on this connection upload whole files instead of
	// trying the same refused command again.
	noResume error

	mu      sync.Mutex // guards the fields below, which abort uses from another goroutine
	ctrl    net.Conn   // the control connection, as dialed
	data    net.Conn   // the latest data connection, as dialed
	aborted bool
}

// Dial connects and logs in to the server u names. Failures retrying cannot
// fix (a refused login, an untrusted certificate, a missing secret) are
// transport.Permanent; network failures, silence and 4xx replies are not.
func Dial(ctx context.Context, u *url.URL, opts transport.Options) (*Client, error) {
	user := u.User.Username()
	if user == "" {
		return nil, transport.Permanent(fmt.Errorf("%s: url needs a user: %s://user@host/dir", u.Scheme, u.Scheme))
	}
	pw := strings.TrimRight(string(opts.Secret), "\r\n")
	if strings.TrimSpace(pw) == "" {
		return nil, transport.Permanent(fmt.Errorf("%s: no credentials: the secret is empty", u.Scheme))
	}
	if strings.ContainsAny(user+pw, "\r\n") {
		return nil, transport.Permanent(fmt.Errorf("%s: user or password contains a line break", u.Scheme))
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
	c := &Client{Root: rootDir(u.Path), addr: addr, timeout: timeout, opCtx: ctx, dirs: map[string]bool{}}
	var certOK atomic.Bool
	switch {
	case u.Scheme == "ftps":
		cfg, err := tlsConfig(u.Hostname(), opts, &certOK)
		if err != nil {
			return nil, err
		}
		c.tls = cfg
	case opts.HostKey != "":
		return nil, transport.Permanent(errors.New("ftp: host_key pins a TLS certificate, but ftp:// does not use TLS; use ftps://"))
	}

	stop := context.AfterFunc(ctx, c.abort)
	defer stop()
	if err := c.connect(ctx); err != nil {
		c.abort()
		return nil, dialError(ctx, u.Scheme, addr, err, c.tls != nil && !certOK.Load())
	}
	if err := c.login(user, pw); err != nil {
		c.abort()
		return nil, loginError(ctx, u.Scheme, user, addr, err)
	}
	if !stop() { // ctx ended just now and closed the connection
		c.abort()
		return nil, fmt.Errorf("%s: dial %s: %w", u.Scheme, addr, ctx.Err())
	}
	return c, nil
}

// connect dials the control connection, reads the greeting and, for
// ftps, runs AUTH TLS and the handshake.
func (c *Client) connect(ctx context.Context) error {
	nc, err := c.dialConn("tcp", c.addr)
	if err != nil {
		return &stepError{step: "connect", timeout: c.timeout, err: err}
	}
	if ta, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		c.host = ta.IP.String()
	}
	c.tp = textproto.NewConn(nc)
	if err := c.greeting(); err != nil {
		return err
	}
	if c.tls == nil {
		return nil
	}
	if _, err := c.expect(codeAuthOK, "AUTH TLS"); err != nil {
		return err
	}
	tc := tls.Client(nc, c.tls)
	if err := tc.HandshakeContext(ctx); err != nil {
		return &handshakeError{err}
	}
	c.tp = textproto.NewConn(tc)
	return nil
}

// handshakeError is a failed TLS handshake on the control connection.
type handshakeError struct{ err error }

func (e *handshakeError) Error() string { return "TLS handshake: " + e.err.Error() }
func (e *handshakeError) Unwrap() error { return e.err }

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
// connection, which it wraps in TLS for ftps. Dialing here lets abort
// close both.
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

// abort closes the control and data connections: a closed connection is
// the only way to interrupt a blocked read or write. The Client is
// unusable afterwards.
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
// or to AUTH TLS (no FTPS on that server) will not change on a retry, nor
// will a handshake the server or the client refused (no common TLS
// version or cipher, an untrusted certificate).
func dialError(ctx context.Context, scheme, addr string, err error, inHandshake bool) error {
	host, _, _ := net.SplitHostPort(addr)
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%s: dial %s: %w", scheme, addr, ctx.Err())
	case tlsRefused(host, err) != nil:
		return tlsRefused(host, err)
	case replyCode(err) >= 500:
		return transport.Permanent(fmt.Errorf("%s: dial %s: %w", scheme, addr, err))
	}
	if _, ok := errors.AsType[*handshakeError](err); ok && inHandshake && (tlsAlert(err) || !isNetwork(err)) {
		return transport.Permanent(fmt.Errorf("%s: TLS handshake with %s: %w", scheme, addr, err))
	}
	return fmt.Errorf("%s: %s: %w", scheme, addr, err)
}

// loginError classifies a failed login: 530 is a refused login; other 5xx
// replies (e.g. PBSZ or PROT refused, 534: policy requires TLS) will not
// change on a retry; silence and 4xx replies may.
func loginError(ctx context.Context, scheme, user, addr string, err error) error {
	switch code := replyCode(err); {
	case ctx.Err() != nil:
		return fmt.Errorf("%s: login at %s: %w", scheme, addr, ctx.Err())
	case code == codeNotLoggedIn:
		return transport.Permanent(fmt.Errorf("%s: login refused for user %q at %s: %w", scheme, user, addr, err))
	case code >= 500:
		return transport.Permanent(fmt.Errorf("%s: login at %s: %w", scheme, addr, err))
	}
	return fmt.Errorf("%s: %s: %w", scheme, addr, err)
}

// fail wraps err from op on name, marking what retrying cannot fix
// permanent, and adding ctx's error when ctx ended the call (abort closed
// the connection, so err alone would read "use of closed connection").
func (c *Client) fail(ctx context.Context, op, name string, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("ftp: %s %s: %w (%w)", op, name, cerr, err)
	}
	switch replyCode(err) {
	case codeExceededStorage:
		return transport.Permanent(fmt.Errorf("ftp: %s %s: over the partner's quota or storage limit: %w", op, name, err))
	case codeNotLoggedIn:
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
		if _, err := c.expect(codeCreated, "MKD %s", d); err != nil {
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
// every byte before the end is there. Once the server has refused to
// resume on this connection it is 0, so the caller uploads whole files.
func (c *Client) Committed(ctx context.Context, name string) (int64, error) {
	if c.noResume != nil {
		return 0, nil
	}
	fi, err := c.Stat(ctx, name)
	if errors.Is(err, transport.ErrNotFound) {
		return 0, nil
	}
	return fi.Size, err
}

// resumeHint names the server settings that allow resuming uploads.
const resumeHint = "to let uploads resume, the partner can allow REST before STOR (ProFTPD: AllowStoreRestart on)"

// PutFrom writes r into name from offset on (0 starts a new file) with
// REST offset + STOR, after checking that the server holds offset bytes.
// A server that refuses the resume (some answer 450, 451, 502, 504 or 550
// to REST or to STOR after it) gets the whole file instead, in this call:
// the first offset bytes are read back from the file the server holds
// (r yields only what follows them), then STOR replaces the file. The
// refusal is remembered, so this connection never tries it again.
//
// FTP cannot truncate, so when a resumed upload does not end at size the
// file is removed and the error says so: a retry then starts over instead
// of resuming a file that can never come out right.
func (c *Client) PutFrom(ctx context.Context, name string, offset int64, r io.Reader, size int64) error {
	p, err := c.path(name)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ftp: put %s: %w", name, err)
	}
	defer c.watch(ctx)()
	if offset == 0 {
		return c.putWhole(ctx, name, p, transport.ContextReader(ctx, r))
	}
	if c.noResume != nil {
		return c.replace(ctx, name, p, offset, r, size, c.noResume)
	}
	if err := c.holds(p, offset); err != nil {
		// REST past the end would leave a hole of zeros on most servers.
		return c.fail(ctx, fmt.Sprintf("resume from byte %d of", offset), name, err)
	}
	err = c.stor(p, transport.ContextReader(ctx, r), offset)
	if rf, ok := errors.AsType[*refusal](err); ok && resumeRefused(replyCode(rf)) && ctx.Err() == nil {
		c.noResume = rf
		slog.Default().Warn("ftp: the server refused to resume an upload; sending the whole file again",
			"server", c.addr, "file", name, "offset", offset, "reply", rf.Error(), "hint", resumeHint)
		return c.replace(ctx, name, p, offset, r, size, rf)
	}
	if err != nil {
		return c.storError(ctx, name, err, nil)
	}
	return c.checkSize(ctx, name, p, offset, size)
}

// resumeRefused reports the replies servers give to a resume they do not
// allow, which the same command will get again: ProFTPD's 451 "Append/
// Restart not permitted", 450 "Function not implemented", 500/502 for no
// REST at all, 501/504 for no REST with STOR, 550 for no rewriting.
func resumeRefused(code int) bool {
	switch code {
	case 450, 451, 500, 501, 502, 504, codeFileUnavailable:
		return true
	}
	return false
}

// putWhole uploads a whole file, creating its directories.
func (c *Client) putWhole(ctx context.Context, name, p string, r io.Reader) error {
	refused, err := c.mkdirAll(path.Dir(p))
	if err != nil {
		return c.fail(ctx, "mkdir for", name, err)
	}
	if err := c.stor(p, r, 0); err != nil {
		return c.storError(ctx, name, err, refused)
	}
	for _, d := range parents(path.Dir(p)) {
		c.dirs[d] = true
	}
	return nil
}

// checkSize removes p when an upload that resumed at offset did not end
// at size.
func (c *Client) checkSize(ctx context.Context, name, p string, offset, size int64) error {
	if size < 0 {
		return nil
	}
	fi, err := c.stat(p)
	if err != nil {
		return c.fail(ctx, "stat after resume of", name, err)
	}
	if got := fi.Size; got != size {
		if _, derr := c.expect(codeActionOK, "DELE %s", p); derr != nil {
			return c.fail(ctx, "remove after a bad resume of", name, derr)
		}
		return fmt.Errorf("ftp: resumed upload of %s from %d ended at %d bytes, want %d; removed it so the next attempt starts over", name, offset, got, size)
	}
	return nil
}

// replace uploads the whole of name where the server refused to resume at
// offset: the first offset bytes come back from the server's own copy
// through a local spool file (one control connection carries one transfer
// at a time), then STOR sends them and r. If that fails the file is
// removed, so the next attempt starts from 0 rather than at the refused
// offset again.
func (c *Client) replace(ctx context.Context, name, p string, offset int64, r io.Reader, size int64, why error) error {
	err := c.replaceVia(ctx, name, p, offset, r)
	if err == nil {
		err = c.checkSize(ctx, name, p, 0, size)
	}
	if err == nil {
		return nil
	}
	if ctx.Err() == nil {
		if _, derr := c.expect(codeActionOK, "DELE %s", p); derr == nil || c.missing(p) {
			err = fmt.Errorf("%w; removed it so the next attempt uploads from byte 0", err)
		}
	}
	return fmt.Errorf("ftp: the server refused to resume %s at byte %d (%v; %s); sending it whole failed: %w",
		name, offset, why, resumeHint, err)
}

func (c *Client) replaceVia(ctx context.Context, name, p string, offset int64, r io.Reader) error {
	spool, err := os.CreateTemp("", "syndicate-ftp-*.part")
	if err != nil {
		return fmt.Errorf("spool for the first %d bytes: %w", offset, err)
	}
	defer func() { _ = spool.Close(); _ = os.Remove(spool.Name()) }()
	d, err := c.retr(p, 0)
	if err != nil {
		return c.fail(ctx, "read back", name, err)
	}
	n, err := io.Copy(spool, io.LimitReader(transport.ContextReader(ctx, d), offset))
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err == nil && n < offset {
		err = fmt.Errorf("the server holds only %d bytes", n)
	}
	if err != nil {
		return c.fail(ctx, fmt.Sprintf("read back the first %d bytes of", offset), name, err)
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return c.putWhole(ctx, name, p, transport.ContextReader(ctx, io.MultiReader(spool, r)))
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
	case codeFileUnavailable, codeBadFileName:
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
	if _, ok := c.feat["MLST"]; ok && !c.noMLST {
		code, msg, err := c.cmd("MLST %s", p)
		switch {
		case err != nil:
			return transport.FileInfo{}, err
		case code == codeActionOK:
			size, mod, perr := parseMLST(msg)
			if perr == nil {
				return transport.FileInfo{Size: size, ModTime: mod}, nil
			}
		case code == codeFileUnavailable:
			return transport.FileInfo{}, transport.ErrNotFound
		case code >= 400 && code < 500:
			return transport.FileInfo{}, replyError("MLST", code, msg)
		}
		c.noMLST = true // a 5xx or a reply without a size: use SIZE
	}
	code, msg, err := c.cmd("SIZE %s", p)
	switch {
	case err != nil:
		return transport.FileInfo{}, err
	case code == codeFileUnavailable:
		return transport.FileInfo{}, transport.ErrNotFound
	case code != codeFileStatus:
		return transport.FileInfo{}, replyError("SIZE", code, msg)
	}
	size, err := strconv.ParseInt(strings.TrimSpace(msg), 10, 64)
	if err != nil {
		return transport.FileInfo{}, replyError("SIZE", code, "cannot read the size in: "+msg)
	}
	fi := transport.FileInfo{Size: size}
	if _, ok := c.feat["MDTM"]; ok {
		code, msg, err := c.cmd("MDTM %s", p)
		if err != nil {
			return transport.FileInfo{}, err
		}
		if code == codeFileStatus {
			fi.ModTime, _ = parseTime(msg) // zero if the server would not say
		}
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
	if _, err := c.expect(codeActionOK, "DELE %s", p); err != nil {
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
	err = c.rename(pf, pt)
	// Only with the source there: RNFR of a missing file fails too, and
	// removing the target then would lose the partner's file for nothing.
	if err != nil && replyCode(err) >= 500 && !c.missing(pf) && !c.missing(pt) {
		if _, derr := c.expect(codeActionOK, "DELE %s", pt); derr != nil {
			return c.fail(ctx, "rename: remove target", to, derr)
		}
		err = c.rename(pf, pt)
	}
	if err != nil {
		return c.fail(ctx, "rename", from, err)
	}
	return nil
}

func (c *Client) rename(from, to string) error {
	if _, err := c.expect(codePending, "RNFR %s", from); err != nil {
		return err
	}
	_, err := c.expect(codeActionOK, "RNTO %s", to)
	return err
}

// Open reads name back.
func (c *Client) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	return c.OpenRange(ctx, name, 0, -1)
}

// OpenRange reads length bytes of name from offset on (REST offset +
// RETR; length < 0 reads to the end). Closing it early ends the transfer
// and leaves the connection usable.
func (c *Client) OpenRange(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	p, err := c.path(name)
	if err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, fmt.Errorf("ftp: read %s: negative offset %d", name, offset)
	}
	defer c.watch(ctx)()
	if offset > 0 {
		// REST at or past the end is an error on some servers, an empty
		// transfer on others: answer it here the same way for all.
		fi, err := c.stat(p)
		if errors.Is(err, transport.ErrNotFound) {
			return nil, fmt.Errorf("ftp: %s: %w", name, transport.ErrNotFound)
		}
		if err != nil {
			return nil, c.fail(ctx, "stat", name, err)
		}
		if offset >= fi.Size {
			return io.NopCloser(strings.NewReader("")), nil
		}
	}
	d, err := c.retr(p, offset)
	if err != nil {
		if replyCode(err) >= 400 && c.missing(p) {
			return nil, fmt.Errorf("ftp: %s: %w", name, transport.ErrNotFound)
		}
		return nil, c.fail(ctx, "open", name, err)
	}
	if length < 0 {
		return d, nil
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(d, length), d}, nil
}

// ServerSHA256 asks the server for its sha256 of name: HASH
// (draft-bryan-ftpext-hash, after OPTS HASH SHA-256 unless that is the
// selected algorithm) where FEAT lists SHA-256 under HASH, else XSHA256
// where FEAT lists it. ok is false when the server offers neither.
func (c *Client) ServerSHA256(ctx context.Context, name string) ([]byte, bool, error) {
	p, err := c.path(name)
	if err != nil {
		return nil, false, err
	}
	defer c.watch(ctx)()
	verb := ""
	if algos, ok := c.feat["HASH"]; ok {
		names, selected := hashAlgos(algos)
		if slices.Contains(names, "SHA-256") {
			if selected == "SHA-256" || c.hashSet {
				verb = "HASH"
			} else if _, err := c.expect(codeOK, "OPTS HASH SHA-256"); err == nil {
				c.hashSet, verb = true, "HASH"
			} else if replyCode(err) == 0 {
				return nil, false, c.fail(ctx, "hash", name, err)
			}
		}
	}
	if _, ok := c.feat["XSHA256"]; ok && verb == "" {
		verb = "XSHA256"
	}
	if verb == "" {
		return nil, false, nil
	}
	code, msg, err := c.cmd("%s %s", verb, p)
	switch {
	case err != nil:
		return nil, false, c.fail(ctx, "hash", name, err)
	case code == codeFileUnavailable && c.missing(p):
		return nil, false, fmt.Errorf("ftp: hash %s: %w", name, transport.ErrNotFound)
	case code/100 != 2:
		return nil, false, c.fail(ctx, "hash", name, replyError(verb, code, msg))
	}
	sum, ok := parseHash(msg)
	if !ok {
		return nil, false, c.fail(ctx, "hash", name, replyError(verb, code, "no sha256 in: "+msg))
	}
	return sum, true, nil
}

// Close ends the session with QUIT and closes the connection.
func (c *Client) Close() error {
	_, _, err := c.cmd("QUIT")
	c.abort()
	if err != nil && !isNetwork(err) { // already gone, e.g. closed when a ctx ended
		return fmt.Errorf("ftp: close: %w", err)
	}
	return nil
}

var (
	_ transport.Transport   = (*Client)(nil)
	_ transport.Renamer     = (*Client)(nil)
	_ transport.Opener      = (*Client)(nil)
	_ transport.Resumer     = (*Client)(nil)
	_ transport.Checksummer = (*Client)(nil)
	_ transport.RangeOpener = (*Client)(nil)
)
