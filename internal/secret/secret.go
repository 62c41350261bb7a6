// Package secret resolves secret references. Profiles never hold a secret,
// only where to find it: env:NAME reads an environment variable, file:PATH
// reads a file (e.g. a mounted Kubernetes secret), aws-ssm:/path reads an
// AWS SSM Parameter Store parameter (decrypted, cached for SSMTTL).
// Resolved values are handed straight to the transport and never logged;
// errors name the reference, never the value.
package secret

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// ErrNotFound is wrapped when a reference points at nothing.
var ErrNotFound = errors.New("secret not found")

// Resolve returns the secret that ref points at. An empty ref resolves to
// nil: the destination needs no credentials.
func Resolve(ref string) ([]byte, error) {
	kind, name, ok := strings.Cut(ref, ":")
	switch {
	case ref == "":
		return nil, nil
	case !ok || name == "":
		return nil, fmt.Errorf("secret %q: want env:NAME, file:/absolute/path or aws-ssm:/parameter/name", ref)
	case kind == "env":
		v, set := os.LookupEnv(name)
		if !set || v == "" {
			return nil, fmt.Errorf("secret %s: environment variable is unset or empty: %w", ref, ErrNotFound)
		}
		return []byte(v), nil
	case kind == "file":
		b, err := os.ReadFile(name)
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("secret %s: %w", ref, ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("secret %s: %w", ref, err)
		}
		return b, nil
	case kind == "aws-ssm":
		if !strings.HasPrefix(name, "/") {
			return nil, fmt.Errorf("secret %q: aws-ssm parameter names start with /", ref)
		}
		return resolveSSM(ref, name)
	default:
		return nil, fmt.Errorf("secret %q: unknown kind %q (have env, file, aws-ssm)", ref, kind)
	}
}

// HashToken is how Syndicate stores every bearer credential it issues —
// API tokens, partner API keys, transcoder callback tokens: the hex
// sha256, never the value. They are 256-bit random values, so a fast
// hash is enough.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
