// Package sftpd is a small SFTP server that runs inside the process, jailed
// to one directory and listening on 127.0.0.1 only. The sftp transport's
// tests run against it, and `syndicate demo` uses it as a partner's server,
// so it is product code: it must not leak files outside its root.
//
// The jail is os.Root: client paths are cleaned against "/" and opened
// relative to the root directory, and os.Root refuses ".." and symbolic
// links that would leave it.
package sftpd

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// handshakeTimeout bounds how long a connection may take to log in.
const handshakeTimeout = 30 * time.Second

// Config says what the server serves and whom it lets in.
type Config struct {
	// Root is the directory clients see as "/"; created if missing. Required.
	Root string
	// User is the only login name accepted. Required.
	User string
	// AuthorizedKey, if set, lets User in with that public key.
	AuthorizedKey ssh.PublicKey
	// Password, if set, lets User in with that password.
	Password string
	// HostKey is the server's key; a fresh ed25519 key if nil.
	HostKey ssh.Signer
	// MaxConns, when set, closes connections beyond that many open at
	// once, as servers that limit connections per user do.
	MaxConns int
	// TruncateOnOpen truncates every file opened for writing, whatever
	// the client's flags, as some servers do (legally): a client that
	// resumes an upload by opening the file and writing at an offset
	// must check what the open handle holds.
	TruncateOnOpen bool
	// RefuseResume fails every write into a file opened for writing
	// without create or truncate flags, as a server that does not allow
	// continuing uploads answers them: a client must then send the whole
	// file.
	RefuseResume bool
	// AfterRename, when set, is called with the target (relative to
	// Root) after each successful rename: tests use it to change what a
	// partner holds behind the client's back.
	AfterRename func(target string)
}

// Server is a running SFTP server. Close stops it.
type Server struct {
	ln      net.Listener
	root    *os.Root
	hostKey ssh.Signer
	config  *ssh.ServerConfig

	maxConns    int
	truncate    bool
	refuse      bool
	afterRename func(string)
	accepted    atomic.Int64
	mu          sync.Mutex
	conns       map[net.Conn]struct{}
	closed      bool
	wg          sync.WaitGroup
	writes      writeStats
}

// writeStats counts files open for writing, to observe how many uploads
// a server sees at once.
type writeStats struct {
	mu        sync.Mutex
	open, max int
}

func (w *writeStats) add(d int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.open += d
	w.max = max(w.max, w.open)
}

// MaxOpenWrites is the most files that were open for writing at once.
func (s *Server) MaxOpenWrites() int {
	s.writes.mu.Lock()
	defer s.writes.mu.Unlock()
	return s.writes.max
}

// countedFile decrements the open-write count when the client closes it.
type countedFile struct {
	*os.File
	stats  *writeStats
	once   sync.Once
	refuse bool // every write fails (Config.RefuseResume)
}

// WriteAt writes, or fails as a server refusing the write would.
func (c *countedFile) WriteAt(p []byte, off int64) (int, error) {
	if c.refuse {
		return 0, sftp.ErrSSHFxFailure
	}
	return c.File.WriteAt(p, off)
}

func (c *countedFile) Close() error {
	c.once.Do(func() { c.stats.add(-1) })
	return c.File.Close()
}

// Start listens on a free port of 127.0.0.1 and serves until Close.
func Start(cfg Config) (*Server, error) {
	if cfg.Root == "" || cfg.User == "" {
		return nil, errors.New("sftpd: Root and User are required")
	}
	if cfg.AuthorizedKey == nil && cfg.Password == "" {
		return nil, errors.New("sftpd: set AuthorizedKey or Password, or nobody can log in")
	}
	hostKey := cfg.HostKey
	if hostKey == nil {
		var err error
		if hostKey, _, err = GenerateClientKey(); err != nil { // any ed25519 key will do
			return nil, err
		}
	}
	if err := os.MkdirAll(cfg.Root, 0o755); err != nil {
		return nil, fmt.Errorf("sftpd: %w", err)
	}
	root, err := os.OpenRoot(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("sftpd: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("sftpd: %w", err)
	}
	s := &Server{ln: ln, root: root, hostKey: hostKey, config: serverConfig(cfg), conns: map[net.Conn]struct{}{}, maxConns: cfg.MaxConns,
		truncate: cfg.TruncateOnOpen, refuse: cfg.RefuseResume, afterRename: cfg.AfterRename}
	s.config.AddHostKey(hostKey)
	s.wg.Go(s.accept)
	return s, nil
}

func serverConfig(cfg Config) *ssh.ServerConfig {
	c := &ssh.ServerConfig{}
	if cfg.AuthorizedKey != nil {
		want := cfg.AuthorizedKey.Marshal()
		c.PublicKeyCallback = func(m ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if m.User() == cfg.User && bytes.Equal(key.Marshal(), want) {
				return nil, nil
			}
			return nil, errors.New("sftpd: key not authorized")
		}
	}
	if cfg.Password != "" {
		c.PasswordCallback = func(m ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			userOK := subtle.ConstantTimeCompare([]byte(m.User()), []byte(cfg.User))
			if subtle.ConstantTimeCompare(pw, []byte(cfg.Password))&userOK == 1 {
				return nil, nil
			}
			return nil, errors.New("sftpd: wrong password")
		}
	}
	return c
}

// Addr is the host:port the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Connections counts the TCP connections accepted so far, those closed
// at once for MaxConns included.
func (s *Server) Connections() int { return int(s.accepted.Load()) }

// HostKey is the server's public key, e.g. for a known_hosts line.
func (s *Server) HostKey() ssh.PublicKey { return s.hostKey.PublicKey() }

// HostKeyFingerprint is the server key as clients pin it: "SHA256:...".
func (s *Server) HostKeyFingerprint() string { return ssh.FingerprintSHA256(s.hostKey.PublicKey()) }

// Close stops listening, drops every connection and waits for them to end.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	err := s.ln.Close()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return errors.Join(err, s.root.Close())
}

func (s *Server) accept() {
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // e.g. out of file descriptors
			continue
		}
		s.accepted.Add(1)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = nc.Close()
			return
		}
		if s.maxConns > 0 && len(s.conns) >= s.maxConns {
			s.mu.Unlock()
			_ = nc.Close()
			continue
		}
		s.conns[nc] = struct{}{}
		s.wg.Go(func() { s.serveConn(nc) }) // under mu, so never after Close's Wait
		s.mu.Unlock()
	}
}

func (s *Server) serveConn(nc net.Conn) {
	defer func() {
		_ = nc.Close()
		s.mu.Lock()
		delete(s.conns, nc)
		s.mu.Unlock()
	}()
	_ = nc.SetDeadline(time.Now().Add(handshakeTimeout))
	conn, chans, reqs, err := ssh.NewServerConn(nc, s.config)
	if err != nil {
		return
	}
	_ = nc.SetDeadline(time.Time{})
	defer conn.Close()
	s.wg.Go(func() { ssh.DiscardRequests(reqs) })
	for nch := range chans {
		if nch.ChannelType() != "session" {
			_ = nch.Reject(ssh.UnknownChannelType, "only session channels")
			continue
		}
		ch, creqs, err := nch.Accept()
		if err != nil {
			continue
		}
		s.wg.Go(func() { s.session(ch, creqs) })
	}
}

// sftpSubsystem is the payload of a "subsystem" request for "sftp".
var sftpSubsystem = []byte("\x00\x00\x00\x04sftp")

// session serves SFTP once the client asks for the subsystem; it offers
// no shell or exec.
func (s *Server) session(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for req := range reqs {
		ok := req.Type == "subsystem" && bytes.Equal(req.Payload, sftpSubsystem)
		_ = req.Reply(ok, nil)
		if !ok {
			continue
		}
		s.wg.Go(func() { ssh.DiscardRequests(reqs) })
		// Reads stay capped at pkg/sftp's default 32 KiB, as on many servers,
		// so the tests cover clients that must cope with short reads.
		h := jail{root: s.root, writes: &s.writes, truncate: s.truncate, refuse: s.refuse, afterRename: s.afterRename}
		rs := sftp.NewRequestServer(ch, sftp.Handlers{FileGet: h, FilePut: h, FileCmd: h, FileList: h})
		_ = rs.Serve()
		_ = rs.Close()
		return
	}
}

// jail implements pkg/sftp's request handlers on an os.Root.
type jail struct {
	root        *os.Root
	writes      *writeStats
	truncate    bool         // every open for writing truncates (Config.TruncateOnOpen)
	refuse      bool         // Config.RefuseResume
	afterRename func(string) // Config.AfterRename
}

// rel maps a client path to a name below the root: "/" is the root itself
// and ".." cannot climb above it.
func rel(p string) string {
	if r := strings.TrimPrefix(path.Clean("/"+p), "/"); r != "" {
		return r
	}
	return "."
}

func (j jail) Fileread(r *sftp.Request) (io.ReaderAt, error) {
	f, err := j.root.Open(rel(r.Filepath))
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (j jail) Filewrite(r *sftp.Request) (io.WriterAt, error) { return j.OpenFile(r) }

// OpenFile opens for writing, and reading too if asked. Append is ignored:
// SFTP writes carry their offset, and O_APPEND would break WriteAt.
func (j jail) OpenFile(r *sftp.Request) (sftp.WriterAtReaderAt, error) {
	pf := r.Pflags()
	flag := os.O_WRONLY
	if pf.Read {
		flag = os.O_RDWR
	}
	for _, f := range []struct {
		set  bool
		flag int
	}{{pf.Creat, os.O_CREATE}, {pf.Trunc || j.truncate, os.O_TRUNC}, {pf.Excl, os.O_EXCL}} {
		if f.set {
			flag |= f.flag
		}
	}
	f, err := j.root.OpenFile(rel(r.Filepath), flag, 0o644)
	if err != nil {
		return nil, err
	}
	j.writes.add(1)
	return &countedFile{File: f, stats: j.writes, refuse: j.refuse && !pf.Creat && !pf.Trunc}, nil
}

func (j jail) Filecmd(r *sftp.Request) error {
	p := rel(r.Filepath)
	switch r.Method {
	case "Setstat":
		return j.setstat(p, r)
	case "Rename", "PosixRename": // both replace the target, as rename(2) does
		if err := j.root.Rename(p, rel(r.Target)); err != nil {
			return err
		}
		if j.afterRename != nil {
			j.afterRename(rel(r.Target))
		}
		return nil
	case "Remove", "Rmdir":
		return j.root.Remove(p)
	case "Mkdir":
		return j.root.Mkdir(p, 0o755)
	}
	return sftp.ErrSSHFxOpUnsupported // links would be a way out of the jail
}

func (j jail) setstat(p string, r *sftp.Request) error {
	flags, attrs := r.AttrFlags(), r.Attributes()
	if flags.Size {
		f, err := j.root.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		err = f.Truncate(int64(attrs.Size))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	if flags.Permissions {
		if err := j.root.Chmod(p, attrs.FileMode().Perm()); err != nil {
			return err
		}
	}
	if flags.Acmodtime {
		return j.root.Chtimes(p, attrs.AccessTime(), attrs.ModTime())
	}
	return nil
}

func (j jail) Filelist(r *sftp.Request) (sftp.ListerAt, error) {
	p := rel(r.Filepath)
	switch r.Method {
	case "List":
		d, err := j.root.Open(p)
		if err != nil {
			return nil, err
		}
		defer d.Close()
		entries, err := d.Readdir(-1)
		return lister(entries), err
	case "Stat":
		fi, err := j.root.Stat(p)
		if err != nil {
			return nil, err
		}
		return lister{fi}, nil
	}
	return nil, sftp.ErrSSHFxOpUnsupported
}

func (j jail) Lstat(r *sftp.Request) (sftp.ListerAt, error) {
	fi, err := j.root.Lstat(rel(r.Filepath))
	if err != nil {
		return nil, err
	}
	return lister{fi}, nil
}

// lister serves a directory listing that is already in memory.
type lister []os.FileInfo

func (l lister) ListAt(out []os.FileInfo, off int64) (int, error) {
	if off >= int64(len(l)) {
		return 0, io.EOF
	}
	n := copy(out, l[off:])
	if n < len(out) {
		return n, io.EOF
	}
	return n, nil
}

// GenerateClientKey makes an ed25519 key: the signer to authorize on a
// server, and the same key as an OpenSSH PEM private key to hand a client
// as its secret.
func GenerateClientKey() (signer ssh.Signer, pemBytes []byte, err error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("sftpd: generate key: %w", err)
	}
	if signer, err = ssh.NewSignerFromKey(priv); err != nil {
		return nil, nil, fmt.Errorf("sftpd: generate key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return nil, nil, fmt.Errorf("sftpd: marshal key: %w", err)
	}
	return signer, pem.EncodeToMemory(block), nil
}

var (
	_ sftp.OpenFileWriter  = jail{}
	_ sftp.LstatFileLister = jail{}
)
