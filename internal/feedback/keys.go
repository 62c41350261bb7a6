package feedback

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/syndicate-media/syndicate/internal/secret"
	"github.com/syndicate-media/syndicate/internal/store"
)

// KeyPrefix starts every partner API key, so a leaked key is recognisable.
const KeyPrefix = "synp_"

// ErrUnauthorized covers every authentication failure; the message says
// which without revealing anything about other partners.
var ErrUnauthorized = errors.New("unauthorized")

// CreateKey makes a new API key for a partner. The key is returned once;
// only its hash is stored. expiresIn 0 means no expiry.
func (s *Service) CreateKey(ctx context.Context, partnerID string, expiresIn time.Duration) (string, store.PartnerKey, error) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	key := KeyPrefix + hex.EncodeToString(b)
	id := make([]byte, 6)
	_, _ = rand.Read(id)
	k := store.PartnerKey{ID: "key_" + hex.EncodeToString(id), PartnerID: partnerID, Hash: secret.HashToken(key), CreatedAt: s.Store.Now()}
	if expiresIn > 0 {
		t := k.CreatedAt.Add(expiresIn)
		k.ExpiresAt = &t
	}
	return key, k, s.Store.AddPartnerKey(ctx, k)
}

// Authenticate returns the partner whose valid key this is.
func (s *Service) Authenticate(ctx context.Context, key string) (string, error) {
	if !strings.HasPrefix(key, KeyPrefix) {
		return "", fmt.Errorf("%w: not a partner key", ErrUnauthorized)
	}
	k, err := s.Store.PartnerKeyByHash(ctx, secret.HashToken(key))
	if errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("%w: unknown key", ErrUnauthorized)
	}
	if err != nil {
		return "", err
	}
	now := s.Store.Now()
	switch {
	case k.RevokedAt != nil:
		return "", fmt.Errorf("%w: key %s was revoked", ErrUnauthorized, k.ID)
	case k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
		return "", fmt.Errorf("%w: key %s expired at %s", ErrUnauthorized, k.ID, k.ExpiresAt.Format(time.RFC3339))
	}
	return k.PartnerID, nil
}

// SignatureWindow is how far a signed request's timestamp may be from now.
const SignatureWindow = 5 * time.Minute

// Sign returns the Syndicate-Signature header value for a request body
// sent at unix time ts: "sha256=" + hex(HMAC-SHA256(secret, ts + "." + body)).
func Sign(secret []byte, ts int64, body []byte) string {
	m := hmac.New(sha256.New, secret)
	fmt.Fprintf(m, "%d.", ts)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a signed request: a timestamp within SignatureWindow of
// now and a signature made with secret over that timestamp and the body.
func Verify(secret []byte, tsHeader, sigHeader string, body []byte, now time.Time) error {
	ts, err := strconv.ParseInt(tsHeader, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: Syndicate-Timestamp must be unix seconds", ErrUnauthorized)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > SignatureWindow || d < -SignatureWindow {
		return fmt.Errorf("%w: Syndicate-Timestamp is more than %s from now", ErrUnauthorized, SignatureWindow)
	}
	if !hmac.Equal([]byte(Sign(secret, ts, body)), []byte(sigHeader)) {
		return fmt.Errorf("%w: bad Syndicate-Signature", ErrUnauthorized)
	}
	return nil
}
