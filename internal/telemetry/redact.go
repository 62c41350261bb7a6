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
	if !mayHoldSecret(s) {
		return s // nothing the patterns could match: skip them
	}
	return redactAll(s)
}

func redactAll(s string) string {
	s = jsonSecret.ReplaceAllString(s, `${1}"`+Redacted+`"`)
	s = yamlSecret.ReplaceAllString(s, "${1}"+Redacted)
	s = urlPassword.ReplaceAllString(s, "${1}"+Redacted+"${2}")
	return tokenValue.ReplaceAllString(s, Redacted)
}

// secretWords are the words secretKey matches case-insensitively.
var secretWords = []string{"password", "passwd", "secret", "token", "apikey", "api_key", "privatekey", "private_key",
	"credential", "authorization", "signature", "cookie", "session"}

// mayHoldSecret is false only when none of Redact's patterns can match s:
// it is ASCII (Go's case folding maps some other letters onto ASCII
// ones), has no secret word, no "://", no "syn" (tokens), and no field
// named exactly "key". Request bodies that pass it skip the regular
// expressions, which cost more than the rest of a request.
func mayHoldSecret(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return true
		}
	}
	if strings.Contains(s, "://") || strings.Contains(s, "syn") {
		return true
	}
	lower := strings.ToLower(s)
	for _, w := range secretWords {
		if strings.Contains(lower, w) {
			return true
		}
	}
	// "key" as a whole field name: not preceded by a name character.
	for i := 0; ; {
		j := strings.Index(s[i:], "key")
		if j < 0 {
			return false
		}
		i += j
		if i == 0 || !isNameByte(s[i-1]) {
			return true
		}
		i += 3
	}
}

func isNameByte(c byte) bool {
	return c == '_' || c == '.' || c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}
