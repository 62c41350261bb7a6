package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/store"
)

// applyPartner stores a validated profile as a new version (or reports
// what would change, with ?dry_run=true). ?rollout=N (1-99) starts a
// gradual rollout; ?message= and ?author= are kept with the version.
func (s *Server) applyPartner(w http.ResponseWriter, r *http.Request, p domain.Partner) {
	q := r.URL.Query()
	percent := 0
	if v := strings.TrimSuffix(q.Get("rollout"), "%"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			writeError(w, 400, "invalid_request", "rollout: want a percentage 1-100")
			return
		}
		percent = n
	}
	if q.Get("dry_run") == "true" {
		s.dryRun(w, r, p)
		return
	}
	meta := store.VersionMeta{Author: q.Get("author"), Message: q.Get("message")}
	if meta.Author == "" {
		meta.Author = "api"
	}
	res, err := s.Store.ApplyPartner(r.Context(), p, meta, percent)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	p.Defaults()
	writeJSON(w, 200, PartnerResponse{Partner: p, Version: res.Version, Changed: res.Changed, Rollout: &res.Rollout})
}

func (s *Server) dryRun(w http.ResponseWriter, r *http.Request, p domain.Partner) {
	cur, err := s.Store.GetPartner(r.Context(), p.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.internal(w, r, err)
		return
	}
	p.Defaults()
	changes := Diff(cur, p)
	if errors.Is(err, store.ErrNotFound) {
		changes = Diff(domain.Partner{}, p)
	}
	writeJSON(w, 200, PartnerResponse{Partner: p, Changed: len(changes) > 0, Changes: changes, DryRun: true})
}

func (s *Server) listPartnerVersions(w http.ResponseWriter, r *http.Request) {
	vs, err := s.Store.ListPartnerVersions(r.Context(), r.PathValue("id"))
	if s.notFound(w, r, err, "partner") {
		return
	}
	writeJSON(w, 200, map[string]any{"versions": vs})
}

func (s *Server) getPartnerVersion(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.PathValue("version"))
	if err != nil {
		writeError(w, 400, "invalid_request", "version: want a number")
		return
	}
	v, err := s.Store.GetPartnerVersion(r.Context(), r.PathValue("id"), n)
	if s.notFound(w, r, err, "partner version") {
		return
	}
	writeJSON(w, 200, v)
}

func (s *Server) diffPartnerVersions(w http.ResponseWriter, r *http.Request) {
	var vs [2]store.PartnerVersion
	for i, key := range []string{"from", "to"} {
		n, err := strconv.Atoi(r.URL.Query().Get(key))
		if err != nil {
			writeError(w, 400, "invalid_request", key+": want a version number")
			return
		}
		if vs[i], err = s.Store.GetPartnerVersion(r.Context(), r.PathValue("id"), n); s.notFound(w, r, err, "partner version") {
			return
		}
	}
	writeJSON(w, 200, map[string]any{"from": vs[0].Version, "to": vs[1].Version, "changes": Diff(vs[0].Partner, vs[1].Partner)})
}

func (s *Server) promotePartner(w http.ResponseWriter, r *http.Request) {
	ro, err := s.Store.PromotePartner(r.Context(), r.PathValue("id"))
	s.rolloutAnswer(w, r, ro, err)
}

// RollbackRequest is the body of POST /v1/partners/{id}/rollback: with To,
// that version's content becomes a new active version; without, the
// rollout in progress is abandoned.
type RollbackRequest struct {
	To      int    `json:"to,omitempty"`
	Message string `json:"message,omitempty"`
}

func (s *Server) rollbackPartner(w http.ResponseWriter, r *http.Request) {
	var req RollbackRequest
	if r.ContentLength != 0 && !decode(w, r, &req, false) {
		return
	}
	id := r.PathValue("id")
	if req.To == 0 {
		ro, err := s.Store.AbortRollout(r.Context(), id, first(req.Message, "by an operator"))
		s.rolloutAnswer(w, r, ro, err)
		return
	}
	v, err := s.Store.GetPartnerVersion(r.Context(), id, req.To)
	if s.notFound(w, r, err, "partner version") {
		return
	}
	res, err := s.Store.ApplyPartner(r.Context(), v.Partner, store.VersionMeta{Author: "api",
		Message: first(req.Message, fmt.Sprintf("rollback to version %d", req.To))}, 0)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, 200, PartnerResponse{Partner: v.Partner, Version: res.Version, Changed: res.Changed, Rollout: &res.Rollout})
}

func (s *Server) rolloutAnswer(w http.ResponseWriter, r *http.Request, ro domain.Rollout, err error) {
	switch {
	case errors.Is(err, store.ErrNoRollout):
		writeError(w, http.StatusConflict, "no_rollout", err.Error())
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", err.Error())
	case err != nil:
		s.internal(w, r, err)
	default:
		writeJSON(w, 200, map[string]any{"rollout": ro})
	}
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Change is one field that differs between two profiles.
type Change struct {
	Path string `json:"path"`
	From any    `json:"from,omitempty"`
	To   any    `json:"to,omitempty"`
}

// Diff lists the fields that differ between two profiles, by JSON path.
func Diff(a, b domain.Partner) []Change {
	fa, fb := flatten(a), flatten(b)
	var out []Change
	for k, va := range fa {
		if vb, ok := fb[k]; !ok || !reflect.DeepEqual(va, vb) {
			out = append(out, Change{Path: k, From: va, To: fb[k]})
		}
	}
	for k, vb := range fb {
		if _, ok := fa[k]; !ok {
			out = append(out, Change{Path: k, To: vb})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

func flatten(p domain.Partner) map[string]any {
	b, _ := json.Marshal(p)
	var v any
	_ = json.Unmarshal(b, &v)
	out := map[string]any{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if m, ok := v.(map[string]any); ok {
			for k, x := range m {
				walk(strings.TrimPrefix(prefix+"."+k, "."), x)
			}
			return
		}
		out[prefix] = v
	}
	walk("", v)
	return out
}
