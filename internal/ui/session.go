package ui

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"sync"
	"time"
)

// SessionTTL is how long a sign-in lasts.
const SessionTTL = 12 * time.Hour

// session is one signed-in browser. Only its random id travels in the
// cookie; the token's hash stays here, so a removed token ends the session.
type session struct {
	id        string
	csrf      string
	tokenHash string
	expires   time.Time
	flash     string // a one-time message for the next page, guarded by sessions.mu
}

// sessions keeps sessions in memory: a restart signs everyone out, which
// costs an operator one paste of the token.
type sessions struct {
	mu   sync.Mutex
	now  func() time.Time
	byID map[string]*session
	// loginKey signs the sign-in form's CSRF token, which exists before
	// any session does.
	loginKey []byte
}

func newSessions(now func() time.Time) *sessions {
	return &sessions{now: now, byID: map[string]*session{}, loginKey: []byte(randomHex(32))}
}

// create starts a session for a token (by its hash) and forgets expired ones.
func (ss *sessions) create(tokenHash string) *session {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	now := ss.now()
	for id, s := range ss.byID {
		if now.After(s.expires) {
			delete(ss.byID, id)
		}
	}
	s := &session{id: randomHex(32), csrf: randomHex(32), tokenHash: tokenHash, expires: now.Add(SessionTTL)}
	ss.byID[s.id] = s
	return s
}

// get returns the live session with this id, or nil.
func (ss *sessions) get(id string) *session {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.byID[id]
	if s == nil {
		return nil
	}
	if ss.now().After(s.expires) {
		delete(ss.byID, id)
		return nil
	}
	return s
}

func (ss *sessions) remove(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.byID, id)
}

func (ss *sessions) setFlash(s *session, msg string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s.flash = msg
}

func (ss *sessions) takeFlash(s *session) string {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	msg := s.flash
	s.flash = ""
	return msg
}

// loginCSRF is the sign-in form's CSRF token for the nonce in the
// browser's sign-in cookie.
func (ss *sessions) loginCSRF(nonce string) string {
	m := hmac.New(sha256.New, ss.loginKey)
	m.Write([]byte("login:" + nonce))
	return hex.EncodeToString(m.Sum(nil))
}

// sameSecret compares secrets in constant time.
func sameSecret(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
