package remote

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/syndicate-media/syndicate/internal/catalog"
	"github.com/syndicate-media/syndicate/internal/catalog/mapping"
	"github.com/syndicate-media/syndicate/internal/secret"
)

// Defaults for the settings a configuration leaves out.
const (
	DefaultTimeout           = 10 * time.Second
	DefaultMaxAttempts       = 4
	DefaultBaseInterval      = 500 * time.Millisecond
	DefaultMaxInterval       = 30 * time.Second
	DefaultRequestsPerSecond = 10
	DefaultCacheSize         = 10000
)

// credentialHeaders may carry a secret, so they are refused in the plain
// headers: a credential belongs in auth, as a reference.
var credentialHeaders = []string{"Authorization", "Proxy-Authorization", "Cookie", "X-Api-Key", "X-Auth-Token"}

// withDefaults fills in what cfg leaves out.
func withDefaults(cfg catalog.Config) catalog.Config {
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.BaseInterval == 0 {
		cfg.BaseInterval = DefaultBaseInterval
	}
	if cfg.MaxInterval == 0 {
		cfg.MaxInterval = DefaultMaxInterval
	}
	if cfg.RequestsPerSecond == 0 {
		cfg.RequestsPerSecond = DefaultRequestsPerSecond
	}
	if cfg.Burst == 0 {
		cfg.Burst = 1
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = DefaultCacheSize
	}
	if cfg.Auth != nil && cfg.Auth.Header == "" {
		a := *cfg.Auth
		a.Header = "Authorization"
		cfg.Auth = &a
	}
	return cfg
}

// check reports every problem with the settings both kinds share, each
// naming its field. urlForCheck is cfg.URL with any template filled in.
func check(cfg catalog.Config, urlForCheck string) (*mapping.Mapping, []error) {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("catalog.%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if err := checkURL(urlForCheck); err != nil {
		bad("url", "%v", err)
	}
	for name, value := range cfg.Headers {
		switch {
		case !httpguts.ValidHeaderFieldName(name):
			bad("headers", "%q is not a valid header name", name)
		case slices.Contains(credentialHeaders, http.CanonicalHeaderKey(name)) ||
			cfg.Auth != nil && strings.EqualFold(name, cfg.Auth.Header):
			bad("headers."+name, "may carry a credential: set it with auth (header, prefix, secret: env:NAME | file:/path | aws-ssm:/path)")
		case !httpguts.ValidHeaderFieldValue(value):
			bad("headers."+name, "not a valid header value")
		}
	}
	if a := cfg.Auth; a != nil {
		if !httpguts.ValidHeaderFieldName(a.Header) {
			bad("auth.header", "%q is not a valid header name", a.Header)
		}
		if !httpguts.ValidHeaderFieldValue(a.Prefix) {
			bad("auth.prefix", "not a valid header value")
		}
		if kind, _, _ := strings.Cut(a.Secret, ":"); !slices.Contains([]string{"env", "file", "aws-ssm"}, kind) {
			// Never echo it: a value that is not a reference is likely
			// the secret itself.
			bad("auth.secret", "want a secret reference (env:NAME, file:/path or aws-ssm:/path), not the secret itself")
		} else if _, err := resolve(a); err != nil {
			bad("auth.secret", "%v", err)
		}
	}
	for field, d := range map[string]time.Duration{"timeout": cfg.Timeout, "base_interval": cfg.BaseInterval, "max_interval": cfg.MaxInterval} {
		if d < 0 {
			bad(field, "negative")
		}
	}
	if cfg.MaxInterval < cfg.BaseInterval {
		bad("max_interval", "%s is shorter than base_interval %s", cfg.MaxInterval, cfg.BaseInterval)
	}
	if cfg.MaxAttempts < 1 || cfg.MaxAttempts > 20 {
		bad("max_attempts", "%d: want 1 to 20", cfg.MaxAttempts)
	}
	if cfg.RequestsPerSecond < 0 {
		bad("requests_per_second", "negative")
	}
	if cfg.Burst < 0 {
		bad("burst", "negative")
	}
	if cfg.CacheSize < 0 {
		bad("cache_size", "negative")
	}
	if cfg.AssetPath != "" {
		if _, err := mapping.ParsePath(cfg.AssetPath); err != nil {
			bad("asset_path", "%v", err)
		}
	}
	m, err := mapping.Parse(cfg.Mapping)
	if err != nil {
		for _, e := range unjoin(err) {
			errs = append(errs, fmt.Errorf("catalog.%w", e))
		}
	}
	return m, errs
}

// checkURL accepts absolute http(s) URLs without credentials in them.
func checkURL(s string) error {
	if s == "" {
		return errors.New("required")
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("not a URL: %v", redactURLError(err))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("scheme %q: want http or https", u.Scheme)
	}
	if u.Host == "" {
		return errors.New("no host")
	}
	if u.User != nil {
		return errors.New("credentials in the URL: use auth with a secret reference instead")
	}
	return nil
}

// resolve reads the auth secret and builds the header's value. Errors name
// the reference, never the value.
func resolve(a *catalog.Auth) (string, error) {
	b, err := secret.Resolve(a.Secret)
	if err != nil {
		return "", err
	}
	v := a.Prefix + strings.TrimSpace(string(b))
	if strings.TrimSpace(string(b)) == "" {
		return "", fmt.Errorf("secret %s is empty", a.Secret)
	}
	if !httpguts.ValidHeaderFieldValue(v) {
		return "", fmt.Errorf("secret %s holds characters a header cannot carry", a.Secret)
	}
	return v, nil
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// redactURLError keeps a URL parse error's reason without the URL, which
// may hold a token.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
