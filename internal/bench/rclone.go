package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// remoteName is the rclone remote the environment defines.
const remoteName = "bench"

// rcloneRemote is rclone configured for a target through environment
// variables only: it runs with --config /dev/null, so it neither reads nor
// writes a config file.
type rcloneRemote struct {
	bin string
	env []string // RCLONE_CONFIG_BENCH_* and nothing else of rclone's
	// dest is rclone's destination for a name relative to the target root;
	// dest("") is the root.
	dest func(name string) string
	// fast is the protocol's closest "no checksum" flags.
	fast     []string
	extra    []string // flags every run needs
	cacheDir string
}

func (r *rcloneRemote) args(src, name string, fast bool) []string {
	a := []string{"copyto", src, r.dest(name), "--config", os.DevNull, "--cache-dir", r.cacheDir, "-q"}
	a = append(a, r.extra...)
	if fast {
		a = append(a, r.fast...)
	}
	return a
}

// hashes asks rclone which checksums it can read on the target. With none
// (an SFTP server that runs no md5sum, FTP, most WebDAV servers), rclone's
// default run checks only the size, as --ignore-checksum does.
func (r *rcloneRemote) hashes(ctx context.Context) ([]string, error) {
	cmd := exec.CommandContext(ctx, r.bin, append([]string{"backend", "features", r.dest(""), "--config", os.DevNull, "--cache-dir", r.cacheDir, "-q"}, r.extra...)...)
	cmd.Env = r.environ()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("rclone backend features: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	var f struct{ Hashes []string }
	if err := json.Unmarshal(out, &f); err != nil {
		return nil, fmt.Errorf("rclone backend features: %w", err)
	}
	return f.Hashes, nil
}

// environ is this process's environment without anything that would
// change how rclone or ssh behave, plus the remote's definition.
func (r *rcloneRemote) environ() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "RCLONE_") || strings.HasPrefix(kv, "SSH_AUTH_SOCK=") {
			continue
		}
		out = append(out, kv)
	}
	return append(out, r.env...)
}

// newRcloneRemote derives rclone's remote from t; work is a private
// directory for a key or known_hosts file rclone needs.
func newRcloneRemote(ctx context.Context, bin, protocol string, t Target, u *url.URL, work string) (*rcloneRemote, error) {
	r := &rcloneRemote{bin: bin, fast: []string{"--ignore-checksum"}, cacheDir: filepath.Join(work, "rclone-cache")}
	set := func(k, v string) {
		r.env = append(r.env, "RCLONE_CONFIG_"+strings.ToUpper(remoteName)+"_"+strings.ToUpper(k)+"="+v)
	}
	remote := func(root string) func(string) string {
		return func(name string) string { return remoteName + ":" + path.Join(root, name) }
	}
	cred, err := t.secretValue()
	if err != nil {
		return nil, err
	}
	obscured := func() (string, error) { return obscure(ctx, bin, cred) }
	switch protocol {
	case "local":
		root := u.Path
		r.dest = func(name string) string { return filepath.Join(root, filepath.FromSlash(name)) }
	case "sftp":
		set("type", "sftp")
		set("host", u.Hostname())
		set("port", portOr(u, "22"))
		set("user", u.User.Username())
		if _, err := ssh.ParsePrivateKey(cred); err == nil {
			keyFile, isFile := strings.CutPrefix(t.Secret, "file:")
			if !isFile {
				keyFile = filepath.Join(work, "rclone-key")
				if err := os.WriteFile(keyFile, cred, 0o600); err != nil {
					return nil, err
				}
			}
			set("key_file", keyFile)
		} else if len(cred) > 0 {
			p, err := obscured()
			if err != nil {
				return nil, err
			}
			set("pass", p)
		}
		switch {
		case t.KnownHosts != "":
			set("known_hosts_file", t.KnownHosts)
		case t.HostKey != "":
			addr := net.JoinHostPort(u.Hostname(), portOr(u, "22"))
			key, algo, err := fetchHostKey(ctx, addr, strings.TrimSpace(t.HostKey))
			if err != nil {
				return nil, err
			}
			kh := filepath.Join(work, "known_hosts")
			if err := os.WriteFile(kh, []byte(knownhosts.Line([]string{knownhosts.Normalize(addr)}, key)+"\n"), 0o600); err != nil {
				return nil, err
			}
			set("known_hosts_file", kh)
			set("host_key_algorithms", algo)
		case t.Insecure:
			set("known_hosts_file", "none")
		}
		root := path.Clean(u.Path)
		if root == "/" || root == "." {
			root = "" // the login directory, as the sftp transport has it
		}
		r.dest = remote(root)
	case "s3":
		id, key, err := splitS3Secret(cred)
		if err != nil {
			return nil, err
		}
		set("type", "s3")
		set("provider", "Other")
		set("endpoint", t.Endpoint)
		if t.Region != "" {
			set("region", t.Region)
		}
		set("access_key_id", id)
		set("secret_access_key", key)
		set("force_path_style", "true")
		set("no_check_bucket", "true")
		r.dest = remote(path.Join(u.Host, u.Path))
		r.fast = append(r.fast, "--s3-disable-checksum")
	case "ftp":
		set("type", "ftp")
		set("host", u.Hostname())
		set("port", portOr(u, "21"))
		set("user", u.User.Username())
		p, err := obscured()
		if err != nil {
			return nil, err
		}
		set("pass", p)
		if u.Scheme == "ftps" {
			set("explicit_tls", "true")
		}
		if t.Insecure || t.HostKey != "" {
			// rclone cannot pin a certificate; the transport checks the pin.
			set("no_check_certificate", "true")
		}
		r.dest = remote(u.Path)
	case "http":
		set("type", "webdav")
		set("vendor", "other")
		root := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
		set("url", root.String())
		// As the http transport reads the secret: a password for the URL's
		// user, else "user:password", else a bearer token.
		user, pass := u.User.Username(), strings.TrimRight(string(cred), "\r\n")
		if a, b, ok := strings.Cut(pass, ":"); ok && user == "" {
			user, pass = a, b
		}
		switch {
		case user != "":
			set("user", user)
			p, err := obscure(ctx, bin, []byte(pass))
			if err != nil {
				return nil, err
			}
			set("pass", p)
		case pass != "":
			set("bearer_token", pass)
		}
		if u.Scheme == "https" && (t.Insecure || t.HostKey != "") {
			// rclone cannot pin a certificate; the transport checks the pin.
			r.extra = append(r.extra, "--no-check-certificate")
		}
		r.dest = remote("")
	default:
		return nil, fmt.Errorf("rclone: no remote for protocol %q", protocol)
	}
	return r, nil
}

func portOr(u *url.URL, def string) string {
	if p := u.Port(); p != "" {
		return p
	}
	return def
}

// obscure turns a password into rclone's obscured form, passing it on
// standard input so it never shows in a process list.
func obscure(ctx context.Context, bin string, secret []byte) (string, error) {
	cmd := exec.CommandContext(ctx, bin, "obscure", "-")
	cmd.Stdin = bytes.NewReader(bytes.TrimSuffix(secret, []byte("\n")))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("rclone obscure: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// splitS3Secret reads an S3 credential as ACCESS_KEY_ID:SECRET_ACCESS_KEY,
// as two lines, or as JSON with access_key_id and secret_access_key.
func splitS3Secret(cred []byte) (id, key string, err error) {
	s := strings.TrimSpace(string(cred))
	if strings.HasPrefix(s, "{") {
		var j map[string]string
		if err := json.Unmarshal([]byte(s), &j); err == nil {
			for k, v := range j {
				switch strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(k)) {
				case "accesskeyid", "accesskey":
					id = v
				case "secretaccesskey", "secretkey":
					key = v
				}
			}
		}
	} else if a, b, ok := strings.Cut(s, "\n"); ok {
		id, key = strings.TrimSpace(a), strings.TrimSpace(b)
	} else if a, b, ok := strings.Cut(s, ":"); ok {
		id, key = a, b
	}
	if id == "" || key == "" {
		return "", "", errors.New("s3 credentials: want ACCESS_KEY_ID:SECRET_ACCESS_KEY")
	}
	return id, key, nil
}

// errGotKey stops a handshake once the server has shown its key.
var errGotKey = errors.New("host key received")

// fetchHostKey gets the server's public key whose SHA256 fingerprint is
// want, trying one host key algorithm at a time (a server usually has
// several keys and only one is pinned), so rclone can be given a
// known_hosts line for the same key the transport pins. It returns the
// key and the algorithm that produced it.
func fetchHostKey(ctx context.Context, addr, want string) (ssh.PublicKey, string, error) {
	algos := []string{ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
		ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256}
	var seen []string
	for _, algo := range algos {
		var got ssh.PublicKey
		cfg := &ssh.ClientConfig{User: "bench", HostKeyAlgorithms: []string{algo}, Timeout: 10 * time.Second,
			HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error { got = key; return errGotKey }}
		d := net.Dialer{Timeout: 10 * time.Second}
		nc, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, "", fmt.Errorf("host key of %s: %w", addr, err)
		}
		_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
		_, _, _, _ = ssh.NewClientConn(nc, addr, cfg)
		_ = nc.Close()
		if got == nil {
			continue // the server has no key of this kind
		}
		fp := ssh.FingerprintSHA256(got)
		if fp == want {
			return got, algo, nil
		}
		seen = append(seen, fp)
	}
	return nil, "", fmt.Errorf("host key of %s: none matches the pinned %s (server has %s)", addr, want, strings.Join(seen, ", "))
}
