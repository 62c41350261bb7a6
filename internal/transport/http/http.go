// Package httpdest delivers by HTTP PUT to https://host[:port]/base/path
// (or http://), both to WebDAV servers and to plain upload endpoints. A
// file NAME is PUT to base/path/NAME, each segment escaped.
//
// Dial sends OPTIONS to the root: a DAV header in the answer means WebDAV,
// and Dial returns a *DAVClient, which creates parent collections with MKCOL
// before each PUT and is a transport.Renamer (MOVE with Overwrite: T), so
// the delivery step uploads under a temporary name and moves the file into
// place. Otherwise it returns a *Client, which cannot rename: the delivery
// step then PUTs the final name directly, and the server must create parent
// folders itself. In both modes the root folder must already exist.
//
// Credentials come from the secret: "user:password" (or a password with
// the user in the URL, https://user@host/…) is Basic auth, anything else a
// bearer token. HTTPS servers are checked against the system roots, or
// against host_key "SHA256:<base64 of the sha256 of the leaf certificate>"
// when one is pinned. Redirects are not followed.
//
// There is no transport.Resumer: plain HTTP PUT has no standard way to
// continue an upload (RFC 9110 leaves partial PUT to each server), so an
// interrupted file is sent again from its first byte.
package httpdest

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/syndicate-media/syndicate/internal/transport"
)

const (
	defaultTimeout = 30 * time.Second
	// expectContinue is how long a PUT waits for "100 Continue" before it
	// sends the body anyway. Asking first means a refused login or a full
	// disk is known before gigabytes go out; servers that understand
	// Expect answer at once.
	expectContinue = time.Second
)

func init() {
	for _, scheme := range []string{"https", "http"} {
		transport.Register(scheme, func(ctx context.Context, u *url.URL, opts transport.Options) (transport.Transport, error) {
			return Dial(ctx, u, opts)
		})
	}
}

// Client writes below one URL with plain HTTP: PUT, HEAD, GET and DELETE.
// It has no Rename, so the delivery step writes final names directly.
type Client struct {
	base url.URL  // scheme and host only
	root []string // the root's path segments, unescaped
	hc   *http.Client
	auth string // Authorization header value; never logged or put in an error
	dav  bool   // create parent collections with MKCOL before a PUT
}

// DAVClient is a Client for a WebDAV server: Put creates missing parent
// collections first, and Rename moves a file with MOVE.
type DAVClient struct{ *Client }

// Dial checks that the server at u answers and accepts the credentials,
// and returns a *DAVClient if it speaks WebDAV, else a *Client. Failures
// retrying cannot fix (a refused login, an untrusted or mismatched
// certificate, a redirect) are transport.Permanent; network failures and
// 5xx answers are not.
func Dial(ctx context.Context, u *url.URL, opts transport.Options) (transport.Transport, error) {
	c, err := newClient(u, opts)
	if err != nil {
		return nil, err
	}
	dav, err := c.probe(ctx)
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	if dav {
		c.dav = true
		return &DAVClient{c}, nil
	}
	return c, nil
}

func newClient(u *url.URL, opts transport.Options) (*Client, error) {
	if u.Scheme != "https" && u.Scheme != "http" {
		return nil, transport.Permanent(fmt.Errorf("http: unsupported scheme %q", u.Scheme))
	}
	if u.Hostname() == "" {
		return nil, transport.Permanent(errors.New("http: url needs a host"))
	}
	if opts.KnownHosts != "" {
		return nil, transport.Permanent(errors.New("http: known_hosts is for SSH; pin an HTTPS certificate with host_key: SHA256:…"))
	}
	if opts.HostKey != "" && u.Scheme != "https" {
		return nil, transport.Permanent(errors.New("http: host_key pins a TLS certificate and needs an https:// url"))
	}
	root, err := rootSegments(u)
	if err != nil {
		return nil, err
	}
	tlsConf, err := tlsConfig(u.Hostname(), opts)
	if err != nil {
		return nil, err
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	dialer := &net.Dialer{Timeout: timeout}
	tr := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &stallConn{Conn: conn, timeout: timeout}, nil
		},
		TLSClientConfig:       tlsConf,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: expectContinue,
		// Open must return the bytes stored, not a decoded form of them, and
		// HEAD the stored size.
		DisableCompression: true,
		IdleConnTimeout:    90 * time.Second,
	}
	hc := &http.Client{
		Transport: tr,
		// A redirected PUT would resend a body that is already consumed, and
		// a destination that moved is for the operator to confirm.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &Client{base: url.URL{Scheme: u.Scheme, Host: u.Host}, root: root, hc: hc, auth: authorization(u, opts.Secret)}, nil
}

// rootSegments splits the URL path into unescaped segments, so that each
// is escaped exactly once when a request URL is built.
func rootSegments(u *url.URL) ([]string, error) {
	var segs []string
	for raw := range strings.SplitSeq(u.EscapedPath(), "/") {
		if raw == "" || raw == "." {
			continue
		}
		seg, err := url.PathUnescape(raw)
		if err != nil || seg == ".." {
			return nil, transport.Permanent(fmt.Errorf("http: url path segment %q is not allowed", raw))
		}
		segs = append(segs, seg)
	}
	return segs, nil
}

// authorization turns the secret into an Authorization header value:
// Basic for "user:password" or when the URL names the user, else Bearer.
func authorization(u *url.URL, secret []byte) string {
	s := strings.TrimRight(string(secret), "\r\n")
	basic := func(user, pw string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
	}
	switch {
	case s == "":
		return ""
	case u.User.Username() != "":
		return basic(u.User.Username(), s)
	case strings.Contains(s, ":"):
		user, pw, _ := strings.Cut(s, ":")
		return basic(user, pw)
	}
	return "Bearer " + s
}

// tlsConfig verifies against the system roots unless a certificate is
// pinned (then only the pin counts, like an SSH host key) or checking is
// switched off.
func tlsConfig(host string, opts transport.Options) (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case opts.HostKey != "":
		want := strings.TrimRight(strings.TrimSpace(opts.HostKey), "=")
		if !strings.HasPrefix(want, "SHA256:") {
			return nil, transport.Permanent(fmt.Errorf("http: host_key %q: want SHA256:<base64 of the sha256 of the server certificate>", opts.HostKey))
		}
		conf.InsecureSkipVerify = true // VerifyConnection checks the pin instead
		conf.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return transport.Permanent(fmt.Errorf("http: %s sent no certificate", host))
			}
			if got := fingerprint(cs.PeerCertificates[0].Raw); got != want {
				return transport.Permanent(fmt.Errorf("http: certificate mismatch for %s: expected %s, got %s", host, want, got))
			}
			return nil
		}
	case opts.InsecureIgnoreHostKey:
		conf.InsecureSkipVerify = true
	}
	return conf, nil
}

// fingerprint is the pin format for a DER certificate: "SHA256:" and the
// unpadded base64 of its sha256, as OpenSSH prints key fingerprints.
func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

// probe checks that the server answers and takes the credentials, and
// reports whether it speaks WebDAV. A server without OPTIONS (405, 501)
// is a plain PUT endpoint.
func (c *Client) probe(ctx context.Context) (dav bool, err error) {
	resp, err := c.send(ctx, http.MethodOptions, c.at(nil, true), nil)
	if err != nil {
		return false, c.fail(ctx, "connect to", c.base.Host, err, nil)
	}
	defer discard(resp)
	switch code := resp.StatusCode; {
	case code == http.StatusUnauthorized, code == http.StatusForbidden,
		code >= 300 && code < 400, code == http.StatusTooManyRequests,
		code >= 500 && code != http.StatusNotImplemented:
		return false, statusError("connect to", c.base.Host, resp)
	}
	return resp.Header.Get("DAV") != "", nil
}

// url maps a validated name below the root.
func (c *Client) url(name string) (*url.URL, error) {
	if err := transport.ValidateName(name); err != nil {
		return nil, transport.Permanent(fmt.Errorf("http: %w", err))
	}
	return c.at(strings.Split(name, "/"), false), nil
}

// at builds the URL of segs below the root, escaping each segment; a
// collection (dir) ends in a slash.
func (c *Client) at(segs []string, dir bool) *url.URL {
	u := c.base
	for _, s := range append(c.root[:len(c.root):len(c.root)], segs...) {
		u.Path += "/" + s
		u.RawPath += "/" + url.PathEscape(s)
	}
	if dir || u.Path == "" {
		u.Path += "/"
		u.RawPath += "/"
	}
	return &u
}

// send makes one request with the credentials; edit, if not nil, adds
// a body or headers.
func (c *Client) send(ctx context.Context, method string, u *url.URL, edit func(*http.Request)) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "syndicate")
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	if edit != nil {
		edit(req)
	}
	return c.hc.Do(req)
}

// Put streams r to name with one PUT: with Content-Length when size is
// known, chunked when it is -1. On a WebDAV server it creates the parent
// collections first.
func (c *Client) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	u, err := c.url(name)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("http: put %s: %w", name, err)
	}
	if dir := path.Dir(name); c.dav && dir != "." {
		if err := c.mkcolAll(ctx, strings.Split(dir, "/")); err != nil {
			return err
		}
	}
	src := &source{r: transport.ContextReader(ctx, r)}
	defer src.stop()
	resp, err := c.send(ctx, http.MethodPut, u, func(req *http.Request) {
		if size == 0 {
			req.Body = http.NoBody // net/http reads a 0 length with a body as unknown
			return
		}
		req.Body, req.GetBody, req.ContentLength = src, src.rewind, max(size, -1)
		if size > 0 {
			req.Header.Set("Expect", "100-continue")
		}
	})
	src.stop()
	if err != nil {
		return c.fail(ctx, "put", name, err, src)
	}
	defer discard(resp)
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusNotFound || code == http.StatusConflict:
		dir := strings.Split(name, "/")
		return transport.Permanent(fmt.Errorf("http: put %s: missing directory (HTTP %d): the folder %s does not exist", name, code, c.at(dir[:len(dir)-1], true).Path))
	}
	return statusError("put", name, resp)
}

// mkcolAll creates the collection dir below the root and its missing
// parents. It tries the deepest first: once a package's first file is
// there, one request settles each further file.
func (c *Client) mkcolAll(ctx context.Context, dir []string) error {
	missingParent, err := c.mkcol(ctx, dir)
	if err != nil || !missingParent {
		return err
	}
	if len(dir) == 1 {
		return transport.Permanent(fmt.Errorf("http: mkcol %s: missing directory: the destination folder %s does not exist", dir[0], c.at(nil, true).Path))
	}
	if err := c.mkcolAll(ctx, dir[:len(dir)-1]); err != nil {
		return err
	}
	if missingParent, err = c.mkcol(ctx, dir); missingParent {
		return fmt.Errorf("http: mkcol %s: parent collection vanished", strings.Join(dir, "/"))
	}
	return err
}

// mkcol creates one collection; one that exists already (405) is fine.
func (c *Client) mkcol(ctx context.Context, dir []string) (missingParent bool, err error) {
	name := strings.Join(dir, "/")
	resp, err := c.send(ctx, "MKCOL", c.at(dir, true), nil)
	if err != nil {
		return false, c.fail(ctx, "mkcol", name, err, nil)
	}
	defer discard(resp)
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300, code == http.StatusMethodNotAllowed:
		return false, nil
	case code == http.StatusConflict, code == http.StatusNotFound:
		return true, nil
	}
	return false, statusError("mkcol", name, resp)
}

// Stat reports name's size (Content-Length of a HEAD) and, when the server
// says, its modification time. A WebDAV server that sends no length on
// HEAD (Apache mod_dav for an empty file) is asked with PROPFIND.
func (c *Client) Stat(ctx context.Context, name string) (transport.FileInfo, error) {
	u, err := c.url(name)
	if err != nil {
		return transport.FileInfo{}, err
	}
	resp, err := c.send(ctx, http.MethodHead, u, nil)
	if err != nil {
		return transport.FileInfo{}, c.fail(ctx, "stat", name, err, nil)
	}
	defer discard(resp)
	switch code := resp.StatusCode; {
	case code == http.StatusNotFound || code == http.StatusGone:
		return transport.FileInfo{}, fmt.Errorf("http: %s: %w", name, transport.ErrNotFound)
	case code < 200 || code >= 300:
		return transport.FileInfo{}, statusError("stat", name, resp)
	}
	fi := transport.FileInfo{Name: name, Size: resp.ContentLength}
	if fi.Size < 0 {
		if !c.dav {
			return transport.FileInfo{}, transport.Permanent(fmt.Errorf("http: stat %s: the server sent no Content-Length", name))
		}
		if fi.Size, err = c.propfindSize(ctx, name, u); err != nil {
			return transport.FileInfo{}, err
		}
	}
	if t, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		fi.ModTime = t
	}
	return fi, nil
}

// propfindBody asks PROPFIND for the two properties propfindSize reads.
const propfindBody = `<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:"><D:prop><D:getcontentlength/><D:resourcetype/></D:prop></D:propfind>`

// multistatus is the part of a PROPFIND answer (RFC 4918 §14.16) that
// propfindSize reads. Elements match by local name in any namespace.
type multistatus struct {
	Responses []struct {
		Propstats []struct {
			Status string `xml:"status"`
			Prop   struct {
				Length       *string `xml:"getcontentlength"`
				ResourceType struct {
					Collection *struct{} `xml:"collection"`
				} `xml:"resourcetype"`
			} `xml:"prop"`
		} `xml:"propstat"`
	} `xml:"response"`
}

// propfindSize reads name's getcontentlength with PROPFIND Depth 0.
func (c *Client) propfindSize(ctx context.Context, name string, u *url.URL) (int64, error) {
	resp, err := c.send(ctx, "PROPFIND", u, func(req *http.Request) {
		req.Header.Set("Depth", "0")
		req.Header.Set("Content-Type", `application/xml; charset="utf-8"`)
		req.Body = io.NopCloser(strings.NewReader(propfindBody))
		req.ContentLength = int64(len(propfindBody))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(propfindBody)), nil }
	})
	if err != nil {
		return 0, c.fail(ctx, "stat", name, err, nil)
	}
	defer discard(resp)
	switch code := resp.StatusCode; {
	case code == http.StatusNotFound || code == http.StatusGone:
		return 0, fmt.Errorf("http: %s: %w", name, transport.ErrNotFound)
	case code != http.StatusMultiStatus:
		return 0, statusError("stat (PROPFIND)", name, resp)
	}
	var ms multistatus
	if err := xml.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&ms); err != nil {
		return 0, fmt.Errorf("http: stat %s: reading the PROPFIND answer: %w", name, err)
	}
	for _, r := range ms.Responses {
		for _, ps := range r.Propstats {
			if !strings.Contains(ps.Status, " 200 ") && !strings.HasSuffix(ps.Status, " 200") {
				continue
			}
			if ps.Prop.ResourceType.Collection != nil {
				return 0, transport.Permanent(fmt.Errorf("http: stat %s: is a collection, not a file", name))
			}
			if ps.Prop.Length == nil {
				continue
			}
			n, err := strconv.ParseInt(strings.TrimSpace(*ps.Prop.Length), 10, 64)
			if err != nil || n < 0 {
				return 0, fmt.Errorf("http: stat %s: PROPFIND getcontentlength %q is not a size", name, *ps.Prop.Length)
			}
			return n, nil
		}
	}
	return 0, transport.Permanent(fmt.Errorf("http: stat %s: the server sent no Content-Length on HEAD and no getcontentlength on PROPFIND", name))
}

// Remove deletes name; a missing file is not an error.
func (c *Client) Remove(ctx context.Context, name string) error {
	u, err := c.url(name)
	if err != nil {
		return err
	}
	resp, err := c.send(ctx, http.MethodDelete, u, nil)
	if err != nil {
		return c.fail(ctx, "remove", name, err, nil)
	}
	defer discard(resp)
	if code := resp.StatusCode; code >= 200 && code < 300 || code == http.StatusNotFound || code == http.StatusGone {
		return nil
	}
	return statusError("remove", name, resp)
}

// Open reads name back with GET.
func (c *Client) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	u, err := c.url(name)
	if err != nil {
		return nil, err
	}
	resp, err := c.send(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, c.fail(ctx, "open", name, err, nil)
	}
	switch code := resp.StatusCode; {
	case code == http.StatusOK:
		return resp.Body, nil
	case code == http.StatusNotFound || code == http.StatusGone:
		discard(resp)
		return nil, fmt.Errorf("http: %s: %w", name, transport.ErrNotFound)
	}
	discard(resp)
	return nil, statusError("open", name, resp)
}

// OpenRange reads length bytes of name from offset (fewer at its end)
// with a GET for that Range; a server that ignores Range (200) is read
// from the start and the bytes before offset are skipped.
func (c *Client) OpenRange(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	u, err := c.url(name)
	if err != nil {
		return nil, err
	}
	if length <= 0 {
		return io.NopCloser(strings.NewReader("")), nil
	}
	resp, err := c.send(ctx, http.MethodGet, u, func(req *http.Request) {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", offset, offset+length-1))
	})
	if err != nil {
		return nil, c.fail(ctx, "open range of", name, err, nil)
	}
	limited := func(r io.Reader) io.ReadCloser {
		return struct {
			io.Reader
			io.Closer
		}{io.LimitReader(r, length), resp.Body}
	}
	switch code := resp.StatusCode; {
	case code == http.StatusPartialContent:
		return limited(resp.Body), nil
	case code == http.StatusOK:
		if _, err := io.CopyN(io.Discard, resp.Body, offset); err != nil && !errors.Is(err, io.EOF) {
			discard(resp)
			return nil, c.fail(ctx, "open range of", name, err, nil)
		}
		return limited(resp.Body), nil
	case code == http.StatusRequestedRangeNotSatisfiable: // offset at or past the end
		discard(resp)
		return io.NopCloser(strings.NewReader("")), nil
	case code == http.StatusNotFound || code == http.StatusGone:
		discard(resp)
		return nil, fmt.Errorf("http: %s: %w", name, transport.ErrNotFound)
	}
	discard(resp)
	return nil, statusError("open range of", name, resp)
}

// Rename moves from to to with WebDAV MOVE, replacing to.
func (d *DAVClient) Rename(ctx context.Context, from, to string) error {
	src, err := d.url(from)
	if err != nil {
		return err
	}
	dst, err := d.url(to)
	if err != nil {
		return err
	}
	resp, err := d.send(ctx, "MOVE", src, func(req *http.Request) {
		req.Header.Set("Destination", dst.String())
		req.Header.Set("Overwrite", "T")
	})
	if err != nil {
		return d.fail(ctx, "rename", from, err, nil)
	}
	defer discard(resp)
	switch code := resp.StatusCode; {
	case code == http.StatusMultiStatus: // a failure reported per resource
		return fmt.Errorf("http: rename %s: the server reported a partial failure (HTTP 207)", from)
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusNotFound:
		return fmt.Errorf("http: rename %s: %w", from, transport.ErrNotFound)
	}
	return statusError("rename", from, resp)
}

// Close drops the idle connections; requests end with their context.
func (c *Client) Close() error {
	c.hc.CloseIdleConnections()
	return nil
}

// fail wraps an error from the HTTP client: with the context's or the
// source's error when one of those caused it, and as permanent when the
// server's certificate is refused.
func (c *Client) fail(ctx context.Context, op, name string, err error, src *source) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		err = ue.Err // its text repeats the whole URL
	}
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("http: %s %s: %w (%w)", op, name, cerr, err)
	}
	if src != nil {
		if rerr := src.readErr(); rerr != nil {
			return fmt.Errorf("http: %s %s: reading the source: %w", op, name, rerr)
		}
	}
	if perm, ok := errors.AsType[*transport.PermanentError](err); ok { // the pin check
		return perm
	}
	if cv, ok := errors.AsType[*tls.CertificateVerificationError](err); ok {
		fp := "unknown"
		if len(cv.UnverifiedCertificates) > 0 {
			fp = fingerprint(cv.UnverifiedCertificates[0].Raw)
		}
		return transport.Permanent(fmt.Errorf("http: refusing %s: %w; its certificate is %s: set host_key: %q on the destination after checking it with the partner",
			c.base.Host, cv.Err, fp, fp))
	}
	return fmt.Errorf("http: %s %s: %w", op, name, err)
}

// statusError turns an unexpected answer into an error, permanent when
// sending the same request again cannot help.
func statusError(op, name string, resp *http.Response) error {
	code := resp.StatusCode
	switch {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return transport.Permanent(fmt.Errorf("http: %s %s refused: HTTP %d", op, name, code))
	case code == http.StatusRequestEntityTooLarge || code == http.StatusInsufficientStorage:
		return transport.Permanent(fmt.Errorf("http: %s %s: over quota or too large: HTTP %s", op, name, resp.Status))
	case code >= 300 && code < 400:
		return transport.Permanent(fmt.Errorf("http: %s %s: HTTP %d redirect to %q not followed; set the destination url to where it should go",
			op, name, code, resp.Header.Get("Location")))
	case code >= 500, code == http.StatusTooManyRequests, code == http.StatusRequestTimeout,
		code == http.StatusLocked, code == http.StatusTooEarly:
		return fmt.Errorf("http: %s %s: HTTP %s", op, name, resp.Status)
	}
	return transport.Permanent(fmt.Errorf("http: %s %s: HTTP %s", op, name, resp.Status))
}

// discard reads a little of what is left of a body, so that the
// connection can carry the next request, and closes it.
func discard(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}

// source is a PUT body. net/http may go on reading a request body after
// Do returns; stop waits for a read in flight and refuses later ones, so
// the caller has r to itself again once Put returns. It also keeps r's own
// error, which the client would report as a broken connection.
type source struct {
	mu      sync.Mutex
	r       io.Reader
	n       int64
	err     error
	stopped bool
}

func (s *source) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return 0, errors.New("http: request body read after the request ended")
	}
	n, err := s.r.Read(p)
	s.n += int64(n)
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}

// Close does nothing: net/http closes the body of a request it may then
// send again on a fresh connection (see rewind).
func (s *source) Close() error { return nil }

// rewind lets net/http resend a request that failed on a stale pooled
// connection, as long as no byte of the body was consumed.
func (s *source) rewind() (io.ReadCloser, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n > 0 || s.stopped {
		return nil, errors.New("http: request body already partly sent")
	}
	return s, nil
}

func (s *source) stop() {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
}

func (s *source) readErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// stallConn fails a write that makes no progress for timeout: a server
// that stops reading mid-upload would otherwise hold the delivery until
// TCP gives up. It bounds each write, not the upload.
type stallConn struct {
	net.Conn
	timeout time.Duration
}

func (c *stallConn) Write(p []byte) (int, error) {
	if err := c.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

var (
	_ transport.Transport   = (*Client)(nil)
	_ transport.Opener      = (*Client)(nil)
	_ transport.RangeOpener = (*Client)(nil)
	_ transport.Transport   = (*DAVClient)(nil)
	_ transport.Renamer     = (*DAVClient)(nil)
	_ transport.Opener      = (*DAVClient)(nil)
)
