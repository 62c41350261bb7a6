package bench

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/syndicate-media/syndicate/internal/secret"
	"github.com/syndicate-media/syndicate/internal/transport"
)

// Protocols are the values --protocol takes, and the URL schemes each
// accepts.
var Protocols = map[string][]string{
	"sftp":  {"sftp"},
	"s3":    {"s3"},
	"ftp":   {"ftp", "ftps"},
	"http":  {"http", "https"},
	"local": {"file"},
}

// Where the project's test scripts write their env files.
const (
	SSHDEnv      = "/tmp/syndicate-sshd/env"
	VersitygwEnv = "/tmp/syndicate-versitygw/env"
	VsftpdEnv    = "/tmp/syndicate-vsftpd/env"
	WebDAVEnv    = "/tmp/syndicate-webdav/env"
)

// Target is a destination both sides upload to: a Syndicate destination
// URL and its options, from which rclone's remote is derived too.
type Target struct {
	URL        string
	Secret     string // reference: env:NAME or file:PATH, never the value
	HostKey    string
	KnownHosts string
	Insecure   bool
	Endpoint   string
	Region     string
	// Streams is destination.streams for Syndicate's side (0: default).
	Streams int
	// Env holds NAME=VALUE pairs a default target's Secret refers to; the
	// child uploader gets them in its environment.
	Env []string
}

// AddFlags registers the target flags on fs.
func (t *Target) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&t.URL, "target", "", "destination URL (default: the test server for --protocol, from its env file)")
	fs.StringVar(&t.Secret, "secret", "", "credentials reference: env:NAME or file:PATH (never the secret itself)")
	fs.StringVar(&t.HostKey, "host-key", "", "pinned server key: SFTP host key fingerprint, or ftps/https certificate pin (SHA256:...)")
	fs.StringVar(&t.KnownHosts, "known-hosts", "", "SFTP: known_hosts file to check the server key against")
	fs.BoolVar(&t.Insecure, "insecure-ignore-host-key", false, "accept any server key or certificate (tests only)")
	fs.StringVar(&t.Endpoint, "endpoint", "", "S3: endpoint URL of an S3-compatible store")
	fs.StringVar(&t.Region, "region", "", "S3: region")
	fs.IntVar(&t.Streams, "streams", 0, "SFTP: connections Syndicate uses for one large file, as destination.streams (0: the default, 4 beyond a 2 ms round trip, else 1)")
}

// Args is the inverse of AddFlags, for the child's command line. Env is
// passed through the environment, not the command line.
func (t Target) Args() []string {
	a := []string{"--target", t.URL}
	add := func(name, v string) {
		if v != "" {
			a = append(a, "--"+name, v)
		}
	}
	add("secret", t.Secret)
	add("host-key", t.HostKey)
	add("known-hosts", t.KnownHosts)
	add("endpoint", t.Endpoint)
	add("region", t.Region)
	if t.Insecure {
		a = append(a, "--insecure-ignore-host-key")
	}
	if t.Streams != 0 {
		a = append(a, "--streams", strconv.Itoa(t.Streams))
	}
	return a
}

// secretValue resolves Secret, looking in Env before the process's
// environment so a default target's synthesized secret works in the parent.
func (t Target) secretValue() ([]byte, error) {
	if name, ok := strings.CutPrefix(t.Secret, "env:"); ok {
		for _, kv := range t.Env {
			if k, v, _ := strings.Cut(kv, "="); k == name {
				return []byte(v), nil
			}
		}
	}
	return secret.Resolve(t.Secret)
}

// Options is what transport.Open needs for t.
func (t Target) Options() (transport.Options, error) {
	cred, err := t.secretValue()
	if err != nil {
		return transport.Options{}, err
	}
	return transport.Options{Secret: cred, HostKey: t.HostKey, KnownHosts: t.KnownHosts,
		InsecureIgnoreHostKey: t.Insecure, Endpoint: t.Endpoint, Region: t.Region, UploadTag: "bench", Streams: t.Streams}, nil
}

// check makes sure t's scheme belongs to protocol and that this build has
// a transport for it.
func (t Target) check(protocol string) (*url.URL, error) {
	u, err := url.Parse(t.URL)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	if !slices.Contains(Protocols[protocol], u.Scheme) {
		return nil, fmt.Errorf("target %s: a %s target must be a %s URL", u.Redacted(), protocol, strings.Join(Protocols[protocol], ":// or ")+"://")
	}
	if have := transport.Schemes(); !slices.Contains(have, u.Scheme) {
		return nil, fmt.Errorf("protocol %s: this build has no %s:// transport yet (it has %s); it belongs under internal/transport/%s and must be linked in by internal/all",
			protocol, u.Scheme, strings.Join(have, ", "), protocol)
	}
	return u, nil
}

// envLookup finds KEY in the process environment first, then in an env
// file written by one of the test scripts.
type envLookup struct {
	getenv func(string) string
	file   map[string]string
	path   string
}

func newEnvLookup(getenv func(string) string, path string) (*envLookup, error) {
	e := &envLookup{getenv: getenv, path: path}
	m, err := readEnvFile(path)
	if err != nil {
		return nil, err
	}
	e.file = m
	return e, nil
}

func (e *envLookup) get(keys ...string) string {
	for _, k := range keys {
		if v := e.getenv(k); v != "" {
			return v
		}
		if v := e.file[k]; v != "" {
			return v
		}
	}
	return ""
}

// readEnvFile reads lines such as `export NAME=VALUE` as written by the
// scripts with printf %q: values may be single-quoted, $'...'-quoted or
// backslash-escaped. A missing file is an empty map.
func readEnvFile(path string) (map[string]string, error) {
	m := map[string]string{}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		m[strings.TrimSpace(k)] = unquoteShell(v)
	}
	return m, sc.Err()
}

func unquoteShell(v string) string {
	switch {
	case len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'':
		return v[1 : len(v)-1]
	case len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"':
		return v[1 : len(v)-1]
	case len(v) >= 3 && strings.HasPrefix(v, "$'") && v[len(v)-1] == '\'':
		if s, err := strconv.Unquote(`"` + strings.ReplaceAll(v[2:len(v)-1], `"`, `\"`) + `"`); err == nil {
			return s
		}
		return v[2 : len(v)-1]
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// benchSecretEnv is the variable a default target's synthesized secret
// travels in to the child.
const benchSecretEnv = "SYNDICATE_BENCH_SECRET"

// DefaultTarget is the test server for protocol, read from the env file
// its script writes (values already in the environment win). local needs
// no server: Transfer makes a directory for it.
func DefaultTarget(protocol string, getenv func(string) string) (Target, error) {
	missing := func(e *envLookup, script string, keys ...string) error {
		var lack []string
		for _, k := range keys {
			if e.get(k) == "" {
				lack = append(lack, k)
			}
		}
		if len(lack) == 0 {
			return nil
		}
		if _, err := os.Stat(e.path); err != nil {
			if _, serr := os.Stat(script); serr != nil {
				return fmt.Errorf("protocol %s: no --target, and no test server to default to: %s is not in this tree yet and %s does not exist; pass --target", protocol, script, e.path)
			}
			return fmt.Errorf("protocol %s: no --target and no %s: run `bash %s` first, or pass --target", protocol, e.path, script)
		}
		return fmt.Errorf("protocol %s: %s lacks %s; pass --target", protocol, e.path, strings.Join(lack, ", "))
	}
	switch protocol {
	case "local":
		return Target{}, nil
	case "sftp":
		e, err := newEnvLookup(getenv, SSHDEnv)
		if err != nil {
			return Target{}, err
		}
		const p = "SYNDICATE_TEST_SSHD_"
		if err := missing(e, "scripts/sshd.sh", p+"ADDR", p+"USER", p+"KEY", p+"HOSTKEY"); err != nil {
			return Target{}, err
		}
		u := url.URL{Scheme: "sftp", User: url.User(e.get(p + "USER")), Host: e.get(p + "ADDR"), Path: e.get(p + "ROOT")}
		return Target{URL: u.String(), Secret: "file:" + e.get(p+"KEY"), HostKey: e.get(p + "HOSTKEY")}, nil
	case "s3":
		e, err := newEnvLookup(getenv, VersitygwEnv)
		if err != nil {
			return Target{}, err
		}
		const p = "SYNDICATE_TEST_S3_"
		if err := missing(e, "scripts/versitygw.sh", p+"ENDPOINT", p+"BUCKET", p+"ACCESS_KEY", p+"SECRET_KEY"); err != nil {
			return Target{}, err
		}
		u := url.URL{Scheme: "s3", Host: e.get(p + "BUCKET"), Path: "/bench"}
		region := e.get(p+"REGION", "AWS_REGION")
		if region == "" {
			region = "us-east-1"
		}
		// The credential as the s3 transport reads it: ACCESS_KEY_ID:SECRET_ACCESS_KEY.
		return Target{URL: u.String(), Endpoint: e.get(p + "ENDPOINT"), Region: region, Secret: "env:" + benchSecretEnv,
			Env: []string{benchSecretEnv + "=" + e.get(p+"ACCESS_KEY") + ":" + e.get(p+"SECRET_KEY")}}, nil
	case "ftp":
		e, err := newEnvLookup(getenv, VsftpdEnv)
		if err != nil {
			return Target{}, err
		}
		const p = "SYNDICATE_TEST_VSFTPD_"
		if err := missing(e, "scripts/vsftpd.sh", p+"ADDR", p+"USER", p+"PASSWORD_FILE"); err != nil {
			return Target{}, err
		}
		// Plain FTP: the server speaks explicit FTPS too; benchmark that
		// with --target ftps://... --host-key "$SYNDICATE_TEST_VSFTPD_CERT_PIN".
		u := url.URL{Scheme: "ftp", User: url.User(e.get(p + "USER")), Host: e.get(p + "ADDR"), Path: "/" + strings.TrimPrefix(e.get(p+"ROOT"), "/")}
		return Target{URL: u.String(), Secret: "file:" + e.get(p+"PASSWORD_FILE")}, nil
	case "http":
		e, err := newEnvLookup(getenv, WebDAVEnv)
		if err != nil {
			return Target{}, err
		}
		const p = "SYNDICATE_TEST_WEBDAV_"
		if err := missing(e, "scripts/webdav.sh", p+"URL", p+"SECRET_FILE"); err != nil {
			return Target{}, err
		}
		return Target{URL: strings.TrimRight(e.get(p+"URL"), "/") + "/", Secret: "file:" + e.get(p+"SECRET_FILE")}, nil
	}
	return Target{}, fmt.Errorf("unknown protocol %q (have sftp, s3, ftp, http, local)", protocol)
}
