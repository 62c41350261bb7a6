package telemetry

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// MaxPayload is the most of a request or response body a span keeps.
const MaxPayload = 4 << 10

// Redacted replaces a secret's value.
const Redacted = "[redacted]"

// secretKey matches field names that hold secrets (or their references,
// which are redacted too: a span is no place to learn where a secret lives).
const secretKey = `[A-Za-z0-9_.-]*(?i:password|passwd|secret|token|api_?key|private_?key|credential|authorization|signature|cookie|session)[A-Za-z0-9_.-]*|key`

var (
	// "name": "value" | "name": 123 | "name": true — also cut short at the end.
	jsonSecret = regexp.MustCompile(`("(?:` + secretKey + `)"\s*:\s*)("(?:[^"\\]|\\.)*(?:"|$)|[^,}\]\s]+)`)
	// name: value (YAML, form-like text).
	yamlSecret = regexp.MustCompile(`(?m)^(\s*(?:-\s+)?(?:` + secretKey + `)\s*[:=]\s*)(\S.*)$`)
	// scheme://user:password@host
	urlPassword = regexp.MustCompile(`(://[^/:@\s"']*:)[^@/\s"']*(@|$)`)
	// Syndicate's own token formats, wherever they appear.
	tokenValue = regexp.MustCompile(`\bsyn[p]?_[A-Za-z0-9]{16,}`)
)

// Payload prepares a request or response body for a span: secrets
// redacted (by field name in JSON or YAML, passwords in URLs, Syndicate
// tokens anywhere), then cut to MaxPayload bytes on a character boundary.
// Redacting before cutting means a secret cut in half is still found.
func Payload(b []byte) string {
	s := Redact(strings.ToValidUTF8(string(b), "\uFFFD"))
	if len(s) <= MaxPayload {
		return s
	}
	cut := MaxPayload
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…(truncated)"
}

// Redact replaces the values of secret-looking fields, URL passwords and
// Syndicate tokens in s.
func Redact(s string) string {
	s = jsonSecret.ReplaceAllString(s, `${1}"`+Redacted+`"`)
	s = yamlSecret.ReplaceAllString(s, "${1}"+Redacted)
	s = urlPassword.ReplaceAllString(s, "${1}"+Redacted+"${2}")
	return tokenValue.ReplaceAllString(s, Redacted)
}
