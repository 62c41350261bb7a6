package event

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The webhook signature headers. Timestamp is Unix seconds; Signature is
// "sha256=" + hex(HMAC-SHA256(secret, timestamp + "." + body)).
const (
	HeaderTimestamp = "Syndicate-Timestamp"
	HeaderSignature = "Syndicate-Signature"
)

// Errors VerifySignature wraps.
var (
	ErrBadSignature = errors.New("webhook signature does not match")
	ErrStale        = errors.New("webhook timestamp outside the allowed window")
)

// Sign returns the Syndicate-Signature header value for body sent at
// timestamp.
func Sign(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// VerifySignature checks a webhook request as a receiver should: the
// Syndicate-Timestamp header is within window of now (refusing replays of
// old requests), and the Syndicate-Signature header is the HMAC-SHA256 of
// timestamp + "." + body under secret, compared in constant time.
func VerifySignature(secret []byte, timestamp, body, header string, now time.Time, window time.Duration) error {
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: timestamp %q is not Unix seconds", ErrBadSignature, timestamp)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > window || d < -window {
		return fmt.Errorf("%w: %s off", ErrStale, d.Round(time.Second))
	}
	got, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return fmt.Errorf("%w: header must start with sha256=", ErrBadSignature)
	}
	gotSum, err := hex.DecodeString(got)
	if err != nil {
		return fmt.Errorf("%w: not hex", ErrBadSignature)
	}
	want, _ := hex.DecodeString(strings.TrimPrefix(Sign(secret, timestamp, []byte(body)), "sha256="))
	if !hmac.Equal(gotSum, want) {
		return ErrBadSignature
	}
	return nil
}
