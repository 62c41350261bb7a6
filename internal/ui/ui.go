// Package ui is Syndicate's operator web UI: server-rendered HTML pages
// (html/template, with the templates, one stylesheet and one small script
// embedded in the binary) for signing in with an API token, a dashboard,
// deliveries with live transfer progress (server-sent events) and their
// actions, and partner profiles with their versions and rollouts.
//
// A session is a random id in an HttpOnly, SameSite=Strict cookie mapped
// to the signed-in token's hash in memory; the token itself never leaves
// the sign-in form. Every POST carries the session's CSRF token.
package ui

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Controller acts on deliveries in flight. It is the API's controller
// (api.Controller): the workflow engine.
type Controller interface {
	Cancel(ctx context.Context, id string) (domain.Delivery, error)
	Retry(ctx context.Context, id string) (domain.Delivery, error)
	SetPriority(ctx context.Context, id string, priority int) (domain.Delivery, error)
}

// UI serves the operator pages. Make one with New.
type UI struct {
	store    *store.Store
	control  Controller
	log      *slog.Logger
	sessions *sessions
	pages    map[string]*template.Template
	mux      *http.ServeMux
	// done ends the live-progress streams when the HTTP server shuts down.
	done chan struct{}
	// tick is how often a live-progress stream sends the delivery.
	tick time.Duration
}

// New returns the UI over st, acting on deliveries through control.
func New(st *store.Store, control Controller, log *slog.Logger) *UI {
	if log == nil {
		log = slog.Default()
	}
	u := &UI{store: st, control: control, log: log, sessions: newSessions(time.Now),
		pages: parsePages(), done: make(chan struct{}), tick: time.Second}
	u.mux = u.routes()
	return u
}

// Close ends the live-progress streams, so that an HTTP server shutdown
// does not wait for them (register it with http.Server.RegisterOnShutdown).
func (u *UI) Close() {
	select {
	case <-u.done:
	default:
		close(u.done)
	}
}

// Handler sends the API's paths (/v1/..., /healthz, /readyz) to apiHandler
// and everything else to the UI.
func (u *UI) Handler(apiHandler http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if p == "/v1" || strings.HasPrefix(p, "/v1/") || p == "/healthz" || p == "/readyz" {
			apiHandler.ServeHTTP(w, r)
			return
		}
		u.mux.ServeHTTP(w, r)
	})
}

func (u *UI) routes() *http.ServeMux {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", http.FileServerFS(static)))
	mux.Handle("GET /ui/{$}", http.RedirectHandler("/", http.StatusSeeOther))
	mux.Handle("GET /favicon.ico", http.RedirectHandler("/ui/static/favicon.svg", http.StatusMovedPermanently))
	mux.HandleFunc("GET /login", u.loginPage)
	mux.HandleFunc("POST /login", u.login)
	mux.Handle("GET /logout", u.auth(func(w http.ResponseWriter, r *http.Request, s *session) {
		u.render(w, r, s, http.StatusOK, "logout", "Sign out", nil)
	}))
	mux.Handle("POST /logout", u.auth(u.logout))
	mux.Handle("GET /{$}", u.auth(u.dashboard))
	mux.Handle("GET /deliveries", u.auth(u.deliveries))
	mux.Handle("GET /deliveries/{id}", u.auth(u.delivery))
	mux.Handle("GET /deliveries/{id}/events", u.auth(u.deliveryEvents))
	mux.Handle("POST /deliveries/{id}/{action}", u.auth(u.deliveryAction))
	mux.Handle("GET /partners", u.auth(u.partners))
	mux.Handle("GET /partners/{id}", u.auth(u.partner))
	mux.Handle("/", u.auth(func(w http.ResponseWriter, r *http.Request, s *session) {
		u.fail(w, r, s, http.StatusNotFound, "No page at "+r.URL.Path+".")
	}))
	return mux
}

// parsePages parses each page template together with the layout.
func parsePages() map[string]*template.Template {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	pages := map[string]*template.Template{}
	for _, name := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(name, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		pages[base] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", name))
	}
	return pages
}

// view is what every page template gets: the page's own data and the
// session's CSRF token and flash message.
type view struct {
	Title    string
	SignedIn bool
	Nav      string
	CSRF     string
	Flash    string
	Data     any
}

// render writes a page with the session's CSRF token and flash message.
func (u *UI) render(w http.ResponseWriter, r *http.Request, s *session, status int, page, title string, data any) {
	v := view{Title: title, Nav: page, Data: data}
	if s != nil {
		v.SignedIn, v.CSRF, v.Flash = true, s.csrf, u.sessions.takeFlash(s)
	}
	u.renderView(w, status, page, v)
}

// renderView renders into a buffer first, so a template error becomes a
// clean 500 instead of half a page.
func (u *UI) renderView(w http.ResponseWriter, status int, page string, v view) {
	var buf bytes.Buffer
	if err := u.pages[page].Execute(&buf, v); err != nil {
		u.log.Error("ui: render", "page", page, "error", err)
		http.Error(w, "internal error; see the server log", http.StatusInternalServerError)
		return
	}
	securityHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fail shows an error page with a message safe to show an operator.
func (u *UI) fail(w http.ResponseWriter, r *http.Request, s *session, status int, msg string) {
	u.render(w, r, s, status, "error", http.StatusText(status), msg)
}

// internal logs an unexpected error and shows only that it happened.
func (u *UI) internal(w http.ResponseWriter, r *http.Request, s *session, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	u.log.Error("ui: request failed", "method", r.Method, "path", r.URL.Path, "error", err)
	u.fail(w, r, s, http.StatusInternalServerError, "Something went wrong; the server log has the details.")
}

// securityHeaders keeps the pages to their own scripts and styles and out
// of other sites' frames.
func securityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}
