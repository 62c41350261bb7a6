package ui

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/syndicate-media/syndicate/internal/api"
	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/store"
)

type partnerRow struct {
	P       domain.Partner
	Rollout domain.Rollout
}

func (u *UI) partners(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := r.Context()
	list, err := u.store.ListPartners(ctx)
	if err != nil {
		u.internal(w, r, s, err)
		return
	}
	rows := make([]partnerRow, 0, len(list))
	for _, p := range list {
		ro, err := u.store.Rollout(ctx, p.ID)
		if err != nil {
			u.internal(w, r, s, err)
			return
		}
		rows = append(rows, partnerRow{P: p, Rollout: ro})
	}
	u.render(w, r, s, http.StatusOK, "partners", "Partners", rows)
}

type partnerData struct {
	P        domain.Partner
	Rollout  domain.Rollout
	Versions []store.PartnerVersion
	// The diff between two chosen versions (?from=&to=; by default the
	// two newest).
	From, To int
	Changes  []api.Change
	// Shown is the version whose profile is shown as JSON (?version=;
	// by default the active one).
	Shown store.PartnerVersion
	Error string
}

func (u *UI) partner(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := r.Context()
	id := r.PathValue("id")
	p, err := u.store.GetPartner(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		u.fail(w, r, s, http.StatusNotFound, fmt.Sprintf("No partner has the id %q.", id))
		return
	}
	if err != nil {
		u.internal(w, r, s, err)
		return
	}
	data := partnerData{P: p}
	if data.Rollout, err = u.store.Rollout(ctx, id); err != nil {
		u.internal(w, r, s, err)
		return
	}
	if data.Versions, err = u.store.ListPartnerVersions(ctx, id); err != nil {
		u.internal(w, r, s, err)
		return
	}
	byNumber := map[int]store.PartnerVersion{}
	for _, v := range data.Versions {
		byNumber[v.Version] = v
	}
	q := r.URL.Query()
	newest := data.Versions[0].Version // newest first; a stored partner has at least one
	data.From = number(q.Get("from"), max(newest-1, 1))
	data.To = number(q.Get("to"), newest)
	from, okFrom := byNumber[data.From]
	to, okTo := byNumber[data.To]
	if okFrom && okTo {
		data.Changes = api.Diff(from.Partner, to.Partner)
	} else {
		data.Error = fmt.Sprintf("Choose two versions between 1 and %d to compare.", newest)
	}
	shown, ok := byNumber[number(q.Get("version"), data.Rollout.Active)]
	if !ok {
		shown = byNumber[data.Rollout.Active]
	}
	data.Shown = shown
	u.render(w, r, s, http.StatusOK, "partner", "Partner "+p.ID, data)
}

// number parses a version number from the query, or returns def.
func number(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	return def
}
