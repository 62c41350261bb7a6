package domain

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Partner is a partner profile: who receives, where, in which format, and
// how hard to try. Secrets are never stored here, only references to them.
type Partner struct {
	ID          string      `json:"id"`
	Name        string      `json:"name"`
	Format      string      `json:"format"`
	Destination Destination `json:"destination"`
	Retry       Retry       `json:"retry,omitzero"`
}

// Destination is where a partner's packages land.
type Destination struct {
	// URL is file:///abs/dir or sftp://user@host:port/dir.
	URL string `json:"url"`
	// Credentials is a secret reference: env:NAME or file:PATH.
	Credentials string `json:"credentials,omitempty"`
	// HostKey pins the server's key fingerprint (SHA256:...).
	HostKey string `json:"host_key,omitempty"`
	// KnownHosts is a known_hosts file that holds the server's key.
	KnownHosts string `json:"known_hosts,omitempty"`
	// InsecureIgnoreHostKey accepts any server key; for tests only.
	InsecureIgnoreHostKey bool `json:"insecure_ignore_host_key,omitempty"`
	// MaxBytesPerSecond caps the transfer rate to this partner; 0 is no cap.
	MaxBytesPerSecond int64 `json:"max_bytes_per_second,omitempty"`
	// Path is the folder under the URL's root for each package; it may use
	// {asset_id} and {delivery_id}. Default "{asset_id}".
	Path string `json:"path,omitempty"`
}

// Retry says how often a failing transfer is tried again.
type Retry struct {
	// MaxAttempts is the number of transfer attempts; default 5.
	MaxAttempts int `json:"max_attempts,omitempty"`
	// BaseInterval is the wait before the second attempt, doubled after
	// each further one; default 2s.
	BaseInterval Duration `json:"base_interval,omitzero"`
}

// Defaults fills unset fields with their documented defaults.
func (p *Partner) Defaults() {
	if p.Retry.MaxAttempts == 0 {
		p.Retry.MaxAttempts = 5
	}
	if p.Retry.BaseInterval == 0 {
		p.Retry.BaseInterval = Duration(2 * time.Second)
	}
	if p.Destination.Path == "" {
		p.Destination.Path = "{asset_id}"
	}
}

var (
	partnerID  = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
	secretRef  = regexp.MustCompile(`^(env:[A-Za-z_][A-Za-z0-9_]*|file:/.+)$`)
	pathTokens = regexp.MustCompile(`\{[a-z_]+\}`)
)

// Validate reports every problem with the profile, each naming its field.
func (p Partner) Validate() error {
	var errs []error
	if !partnerID.MatchString(p.ID) {
		errs = append(errs, fmt.Errorf("id: %q must be 1-63 lowercase letters, digits, _ or -", p.ID))
	}
	if strings.TrimSpace(p.Name) == "" {
		errs = append(errs, errors.New("name: required"))
	}
	if p.Format == "" {
		errs = append(errs, errors.New("format: required (e.g. json)"))
	}
	d := p.Destination
	if u, err := url.Parse(d.URL); err != nil || u.Scheme == "" {
		errs = append(errs, errors.New("destination.url: not a valid absolute URL (scheme://[user@]host/path)"))
	} else if _, has := u.User.Password(); has {
		errs = append(errs, errors.New("destination.url: must not contain a password; use destination.credentials: env:NAME or file:PATH"))
	}
	if d.Credentials != "" && !secretRef.MatchString(d.Credentials) {
		errs = append(errs, errors.New("destination.credentials: must be a secret reference env:NAME or file:/absolute/path, not the secret itself"))
	}
	if d.MaxBytesPerSecond < 0 {
		errs = append(errs, errors.New("destination.max_bytes_per_second: negative"))
	}
	for _, tok := range pathTokens.FindAllString(d.Path, -1) {
		if tok != "{asset_id}" && tok != "{delivery_id}" {
			errs = append(errs, fmt.Errorf("destination.path: unknown placeholder %s (have {asset_id}, {delivery_id})", tok))
		}
	}
	if p.Retry.MaxAttempts < 0 || p.Retry.MaxAttempts > 100 {
		errs = append(errs, errors.New("retry.max_attempts: must be 1-100"))
	}
	if p.Retry.BaseInterval < 0 {
		errs = append(errs, errors.New("retry.base_interval: negative"))
	}
	return errors.Join(errs...)
}

// PackageDir is the folder, relative to the destination root, that receives
// a delivery's files.
func (p Partner) PackageDir(assetID, deliveryID string) string {
	r := strings.NewReplacer("{asset_id}", assetID, "{delivery_id}", deliveryID)
	return strings.Trim(r.Replace(p.Destination.Path), "/")
}

// Duration is a time.Duration written as "2s", "1m30s" in JSON and YAML.
type Duration time.Duration

// MarshalJSON writes the duration as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a Go duration string such as "2s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration string like \"2s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
