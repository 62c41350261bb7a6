package ftp

// The control connection: one command at a time, each reply read whole.
// The transport speaks the protocol itself (net/textproto) rather than
// through a client library, because delivery needs what libraries hide:
// the FEAT list (HASH, XSHA256, MLST), the reply to REST apart from the one
// to STOR (a refused resume), ending a download early, and the name of the
// step a silent server did not answer.

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// Reply codes the transport acts on (RFC 959, RFC 2228, RFC 2428).
const (
	codeTransferStarting = 125
	codeOpening          = 150
	codeOK               = 200
	codeNotNeeded        = 202
	codeFeatures         = 211
	codeFileStatus       = 213
	codeReady            = 220
	codeLoggedIn         = 230
	codeAuthOK           = 234
	codeExtPassive       = 229
	codePassive          = 227
	codeActionOK         = 250
	codeCreated          = 257
	codeNeedPassword     = 331
	codeNeedAccount      = 332
	codePending          = 350
	codeNotLoggedIn      = 530
	codeExceededStorage  = 552
	codeFileUnavailable  = 550
	codeBadFileName      = 553
	codeServiceNotReady  = 120
)

// stepError is a control or data connection that failed during one step
// of the protocol: the message names the step, and for a read that timed
// out says the server did not answer it.
type stepError struct {
	step    string // "the greeting", "PASS", "the data connection for STOR"
	timeout time.Duration
	err     error
}

func (e *stepError) Error() string {
	if ne, ok := errors.AsType[net.Error](e.err); ok && ne.Timeout() {
		if e.step == stepGreeting {
			return fmt.Sprintf("server sent no greeting within %s", e.timeout)
		}
		return fmt.Sprintf("server did not answer %s within %s", e.step, e.timeout)
	}
	return fmt.Sprintf("%s: %v", e.step, e.err)
}

func (e *stepError) Unwrap() error { return e.err }

const stepGreeting = "the greeting"

// replyError is a reply other than the one a step needs; it wraps the
// *textproto.Error that replyCode reads.
func replyError(verb string, code int, msg string) error {
	return fmt.Errorf("%s: %w", verb, &textproto.Error{Code: code, Msg: strings.ReplaceAll(msg, "\n", " ")})
}

// verbOf is a command line's first word, upper-cased, to name the step.
func verbOf(line string) string {
	verb, _, _ := strings.Cut(line, " ")
	return strings.ToUpper(verb)
}

// cmd sends one command line and reads its reply, whatever its code.
func (c *Client) cmd(format string, args ...any) (int, string, error) {
	line := fmt.Sprintf(format, args...)
	verb := verbOf(line)
	if strings.ContainsAny(line, "\r\n") {
		return 0, "", fmt.Errorf("%s: argument contains a line break", verb)
	}
	if err := c.tp.PrintfLine("%s", line); err != nil {
		return 0, "", &stepError{step: verb, timeout: c.timeout, err: err}
	}
	return c.reply(verb)
}

// reply reads one reply (all lines of a multi-line one) to step.
func (c *Client) reply(step string) (int, string, error) {
	code, msg, err := c.tp.ReadResponse(0)
	if err != nil {
		return 0, "", &stepError{step: step, timeout: c.timeout, err: err}
	}
	return code, msg, nil
}

// final reads the reply that ends a transfer, skipping preliminary (1xx)
// ones: Pure-FTPd over TLS sends a second 150 with its timing.
func (c *Client) final(step string) (int, string, error) {
	for {
		code, msg, err := c.reply(step)
		if err != nil || code >= 200 {
			return code, msg, err
		}
	}
}

// expect sends a command and requires the reply code want.
func (c *Client) expect(want int, format string, args ...any) (string, error) {
	code, msg, err := c.cmd(format, args...)
	if err != nil {
		return "", err
	}
	if code != want {
		return msg, replyError(verbOf(fmt.Sprintf(format, args...)), code, msg)
	}
	return msg, nil
}

// greeting reads the server's first reply; 120 means "wait", then 220.
func (c *Client) greeting() error {
	for {
		code, msg, err := c.reply(stepGreeting)
		switch {
		case err != nil:
			return err
		case code == codeReady:
			return nil
		case code != codeServiceNotReady:
			return replyError("greeting", code, msg)
		}
	}
}

// login sends USER and PASS (and, whatever the answer to FEAT, TYPE I),
// then reads the server's features.
func (c *Client) login(user, pw string) error {
	code, msg, err := c.cmd("USER %s", user)
	if err != nil {
		return err
	}
	if code == codeNeedPassword {
		if code, msg, err = c.cmd("PASS %s", pw); err != nil {
			return err
		}
		if code != codeLoggedIn && code != codeNotNeeded {
			return replyError("PASS", code, msg)
		}
	} else if code != codeLoggedIn {
		if code == codeNeedAccount {
			return replyError("USER", codeNotLoggedIn, "the server wants an ACCT, which the transport does not send: "+msg)
		}
		return replyError("USER", code, msg)
	}
	if err := c.readFeatures(); err != nil {
		return err
	}
	if _, err := c.expect(codeOK, "TYPE I"); err != nil {
		return err
	}
	if _, ok := c.feat["UTF8"]; ok {
		// Names are sent as UTF-8 either way; this only asks the server to
		// take them so. A refusal changes nothing.
		if _, _, err := c.cmd("OPTS UTF8 ON"); err != nil {
			return err
		}
	}
	if c.tls != nil {
		if _, err := c.expect(codeOK, "PBSZ 0"); err != nil {
			return err
		}
		if _, err := c.expect(codeOK, "PROT P"); err != nil {
			return err
		}
	}
	return nil
}

// readFeatures asks FEAT (RFC 2389); a server without it has none.
func (c *Client) readFeatures() error {
	c.feat = map[string]string{}
	code, msg, err := c.cmd("FEAT")
	if err != nil || code != codeFeatures {
		return err
	}
	for _, line := range strings.Split(msg, "\n") {
		if !strings.HasPrefix(line, " ") {
			continue
		}
		name, args, _ := strings.Cut(strings.TrimSpace(line), " ")
		c.feat[strings.ToUpper(name)] = args
	}
	return nil
}

// openData opens a passive data connection: EPSV, or PASV where the server
// has no EPSV. It always connects to the control connection's address,
// whatever address PASV names: a server behind NAT often names a private
// one, and connecting elsewhere would go around the destination policy.
func (c *Client) openData(verb string) (net.Conn, error) {
	port, err := c.passivePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort(c.host, strconv.Itoa(port))
	nc, err := c.dialConn("tcp", addr)
	if err != nil {
		return nil, &stepError{step: "the data connection for " + verb + " (" + addr + ")", timeout: c.timeout, err: err}
	}
	return nc, nil
}

func (c *Client) passivePort() (int, error) {
	if !c.noEPSV {
		code, msg, err := c.cmd("EPSV")
		if err != nil {
			return 0, err
		}
		if code == codeExtPassive {
			// 229 Entering Extended Passive Mode (|||port|)
			if i := strings.Index(msg, "(|||"); i >= 0 {
				if p, _, ok := strings.Cut(msg[i+4:], "|)"); ok {
					if port, err := strconv.Atoi(p); err == nil && port > 0 && port < 65536 {
						return port, nil
					}
				}
			}
			return 0, replyError("EPSV", code, "cannot read the port in: "+msg)
		}
		c.noEPSV = true
	}
	msg, err := c.expect(codePassive, "PASV")
	if err != nil {
		return 0, err
	}
	// 227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)
	start := strings.IndexByte(msg, '(')
	end := strings.LastIndexByte(msg, ')')
	var nums []string
	if start >= 0 && end > start {
		nums = strings.Split(msg[start+1:end], ",")
	}
	if len(nums) == 6 {
		hi, err1 := strconv.Atoi(strings.TrimSpace(nums[4]))
		lo, err2 := strconv.Atoi(strings.TrimSpace(nums[5]))
		if err1 == nil && err2 == nil && hi >= 0 && hi < 256 && lo >= 0 && lo < 256 && hi|lo != 0 {
			return hi<<8 | lo, nil
		}
	}
	return 0, replyError("PASV", codePassive, "cannot read the port in: "+msg)
}

// refusal is a REST, or a STOR after it, that the server answered with an
// error before any byte was sent: the file at the server is as it was.
type refusal struct{ err error }

func (r *refusal) Error() string { return r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

// stor uploads r to p: from offset on with REST offset first, else the
// whole file (STOR replaces it). A reply that refuses REST or STOR comes
// back as a *refusal.
func (c *Client) stor(p string, r io.Reader, offset int64) error {
	dc, err := c.openData("STOR")
	if err != nil {
		return err
	}
	if offset > 0 {
		if _, err := c.expect(codePending, "REST %d", offset); err != nil {
			_ = dc.Close()
			return asRefusal(err)
		}
	}
	code, msg, err := c.cmd("STOR %s", p)
	if err != nil {
		_ = dc.Close()
		return err
	}
	if code != codeOpening && code != codeTransferStarting {
		_ = dc.Close()
		return &refusal{replyError("STOR", code, msg)}
	}
	var errs []error
	n, err := io.Copy(dc, r)
	if err != nil {
		errs = append(errs, err)
	} else if hs, ok := dc.(interface{ Handshake() error }); ok && n == 0 {
		// An empty file over TLS: no Write ran the handshake, which the
		// server waits for before it takes the end of the data.
		if err := hs.Handshake(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := dc.Close(); err != nil && len(errs) == 0 {
		errs = append(errs, &stepError{step: "the data connection for STOR", timeout: c.timeout, err: err})
	}
	// Read the final reply even after a failed copy, so the control
	// connection stays in step (and a quota reply reaches the caller).
	if code, msg, err := c.final("the end of STOR"); err != nil {
		errs = append(errs, err)
	} else if code/100 != 2 {
		errs = append(errs, replyError("STOR", code, msg))
	}
	return errors.Join(errs...)
}

// asRefusal marks a reply error as a refusal; a broken connection stays
// what it is.
func asRefusal(err error) error {
	if replyCode(err) != 0 {
		return &refusal{err}
	}
	return err
}

// retr starts a download of p from offset; the reader must be closed.
func (c *Client) retr(p string, offset int64) (*download, error) {
	dc, err := c.openData("RETR")
	if err != nil {
		return nil, err
	}
	if offset > 0 {
		if _, err := c.expect(codePending, "REST %d", offset); err != nil {
			_ = dc.Close()
			return nil, err
		}
	}
	code, msg, err := c.cmd("RETR %s", p)
	if err != nil {
		_ = dc.Close()
		return nil, err
	}
	if code != codeOpening && code != codeTransferStarting {
		_ = dc.Close()
		return nil, replyError("RETR", code, msg)
	}
	return &download{c: c, dc: dc}, nil
}

// download is a RETR in progress. Close may come before the end: it sends
// ABOR first, so the server stops writing before the data connection
// closes (ProFTPD over TLS ends the whole session on a write that meets a
// closed connection), then NOOP, reading replies up to NOOP's 200: servers
// answer an ABOR with one reply or two (426 and 226, in either order, or
// 226 and 225 when the transfer had ended), and the control connection is
// back in step only after all of them.
type download struct {
	c      *Client
	dc     net.Conn
	eof    bool
	closed bool
}

func (d *download) Read(p []byte) (int, error) {
	n, err := d.dc.Read(p)
	if errors.Is(err, io.EOF) {
		d.eof = true
	} else if err != nil {
		err = &stepError{step: "the data connection for RETR", timeout: d.c.timeout, err: err}
	}
	return n, err
}

func (d *download) Close() error {
	if d.closed {
		return nil
	}
	d.closed = true
	c := d.c
	if d.eof {
		_ = d.dc.Close()
		code, msg, err := c.final("the end of RETR")
		if err == nil && code/100 != 2 {
			err = replyError("RETR", code, msg)
		}
		return err
	}
	if err := c.tp.PrintfLine("ABOR"); err != nil {
		_ = d.dc.Close()
		return &stepError{step: "ABOR", timeout: c.timeout, err: err}
	}
	_ = d.dc.Close()
	if err := c.tp.PrintfLine("NOOP"); err != nil {
		return &stepError{step: "NOOP after ABOR", timeout: c.timeout, err: err}
	}
	for range 5 {
		code, _, err := c.reply("ABOR")
		if err != nil {
			return err
		}
		if code == codeOK {
			return nil
		}
	}
	return fmt.Errorf("ABOR: no reply to the NOOP after it among the next 5")
}

// mlst reads size and modification time from one MLST reply (RFC 3659):
//
//	250-Listing p
//	 type=file;size=1024;modify=20220813133357; p
//	250 End
func parseMLST(msg string) (size int64, mod time.Time, err error) {
	size = -1
	for _, line := range strings.Split(msg, "\n") {
		if !strings.HasPrefix(line, " ") {
			continue
		}
		facts, _, ok := strings.Cut(strings.TrimLeft(line, " "), " ")
		if !ok {
			continue
		}
		for fact := range strings.SplitSeq(facts, ";") {
			k, v, _ := strings.Cut(fact, "=")
			switch strings.ToLower(k) {
			case "size":
				if size, err = strconv.ParseInt(v, 10, 64); err != nil {
					return -1, time.Time{}, fmt.Errorf("MLST: size %q: %w", v, err)
				}
			case "modify":
				mod, _ = parseTime(v)
			}
		}
	}
	if size < 0 {
		return -1, time.Time{}, fmt.Errorf("MLST: no size in %q", msg)
	}
	return size, mod, nil
}

// parseTime reads an RFC 3659 time-val, YYYYMMDDHHMMSS[.sss], in UTC.
func parseTime(v string) (time.Time, error) {
	v, _, _ = strings.Cut(strings.TrimSpace(v), ".")
	return time.ParseInLocation("20060102150405", v, time.UTC)
}

// parseHash finds the hex sha256 in a HASH reply ("SHA-256 0-1234 <hex>
// name", draft-bryan-ftpext-hash) or an XSHA256 one ("<hex>", some servers
// with the name around it).
func parseHash(msg string) ([]byte, bool) {
	for f := range strings.FieldsSeq(msg) {
		if len(f) != 64 {
			continue
		}
		if sum, err := hex.DecodeString(f); err == nil {
			return sum, true
		}
	}
	return nil, false
}

// hashAlgos lists the algorithms of a HASH feature line ("SHA-1;SHA-256*;
// MD5"): the star marks the one selected.
func hashAlgos(feature string) (names []string, selected string) {
	for a := range strings.SplitSeq(feature, ";") {
		a = strings.TrimSpace(a)
		if name, ok := strings.CutSuffix(a, "*"); ok {
			selected = strings.ToUpper(name)
			a = name
		}
		if a != "" {
			names = append(names, strings.ToUpper(a))
		}
	}
	return names, selected
}
