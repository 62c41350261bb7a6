package ui

import (
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"unicode"

	"github.com/syndicate-media/syndicate/internal/secret"
)

const (
	sessionCookie = "syndicate_session"
	loginCookie   = "syndicate_login"
	maxForm       = 64 << 10
)

// handler is a page handler that runs with a signed-in session.
type handler func(w http.ResponseWriter, r *http.Request, s *session)

// auth lets only signed-in browsers through: a page without a session
// redirects to the sign-in page, a POST without one, or without the
// session's CSRF token, is refused with 403.
func (u *UI) auth(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := u.sessionOf(r)
		if err != nil {
			u.internal(w, r, nil, err)
			return
		}
		if s == nil {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			u.fail(w, r, nil, http.StatusForbidden, "You are not signed in (or your session ended). Sign in and try again.")
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
			if !sameSecret(r.PostFormValue("csrf"), s.csrf) {
				u.fail(w, r, s, http.StatusForbidden, "This form is missing its security token or it is out of date. Reload the page and try again.")
				return
			}
		}
		h(w, r, s)
	})
}

// sessionOf returns the request's live session, or nil. A session whose
// token was removed from the store ends.
func (u *UI) sessionOf(r *http.Request) (*session, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, nil
	}
	s := u.sessions.get(c.Value)
	if s == nil {
		return nil, nil
	}
	ok, err := u.store.TokenExists(r.Context(), s.tokenHash)
	if err != nil {
		return nil, err
	}
	if !ok {
		u.sessions.remove(s.id)
		return nil, nil
	}
	return s, nil
}

type loginData struct {
	Next  string
	Error string
}

func (u *UI) loginPage(w http.ResponseWriter, r *http.Request) {
	if s, _ := u.sessionOf(r); s != nil {
		http.Redirect(w, r, localPath(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	u.showLogin(w, r, http.StatusOK, "")
}

// showLogin renders the sign-in form with the CSRF token derived from the
// nonce in the sign-in cookie. The browser's nonce is kept when it has one,
// so that another sign-in page (a second tab, a redirected favicon
// request) does not invalidate the form already shown.
func (u *UI) showLogin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	nonce := randomHex(16)
	if c, err := r.Cookie(loginCookie); err == nil && validNonce(c.Value) {
		nonce = c.Value
	}
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: nonce, Path: "/login", MaxAge: 3600,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	v := view{Title: "Sign in", CSRF: u.sessions.loginCSRF(nonce),
		Data: loginData{Next: localPath(r.FormValue("next")), Error: msg}}
	u.renderView(w, status, "login", v)
}

func (u *UI) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	c, err := r.Cookie(loginCookie)
	if err != nil || !sameSecret(r.PostFormValue("csrf"), u.sessions.loginCSRF(c.Value)) {
		u.fail(w, r, nil, http.StatusForbidden, "The sign-in form is missing its security token or it is out of date. Open the sign-in page again.")
		return
	}
	token := strings.TrimSpace(r.PostFormValue("token"))
	hash := secret.HashToken(token)
	ok, err := u.store.TokenExists(r.Context(), hash)
	if err != nil {
		u.internal(w, r, nil, err)
		return
	}
	if token == "" || !ok {
		u.log.Warn("ui: sign-in refused", "remote", r.RemoteAddr)
		u.showLogin(w, r, http.StatusUnauthorized, "That is not a valid API token.")
		return
	}
	s := u.sessions.create(hash)
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Path: "/login", MaxAge: -1})
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: s.id, Path: "/", MaxAge: int(SessionTTL.Seconds()),
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	u.log.Info("ui: signed in", "remote", r.RemoteAddr)
	http.Redirect(w, r, localPath(r.PostFormValue("next")), http.StatusSeeOther)
}

func (u *UI) logout(w http.ResponseWriter, r *http.Request, s *session) {
	u.sessions.remove(s.id)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// localPath keeps a redirect target on this site: a path, never another
// host ("//evil.example", "/\evil.example") or a scheme.
func localPath(p string) string {
	// Browsers drop tabs and newlines from a URL and read a backslash as a
	// slash, so "/\t/evil.example" would be "//evil.example": refuse every
	// control character and backslash before looking at the shape.
	if strings.ContainsFunc(p, func(r rune) bool { return unicode.IsControl(r) || r == '\\' }) {
		return "/"
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" ||
		!strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/login") {
		return "/"
	}
	return p
}

func validNonce(s string) bool {
	if len(s) != 32 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}
