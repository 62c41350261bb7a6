package ui

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/store"
)

type deliveriesData struct {
	Status, Partner, Asset, ID string
	Statuses                   []domain.Status
	Partners                   []domain.Partner
	Deliveries                 []domain.Delivery
	Error                      string
}

// deliveries lists the newest deliveries, filtered by the query's status,
// partner and asset; ?id= jumps to one delivery.
func (u *UI) deliveries(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := r.Context()
	q := r.URL.Query()
	data := deliveriesData{Status: q.Get("status"), Partner: q.Get("partner"), Asset: q.Get("asset"),
		ID: strings.TrimSpace(q.Get("id")), Statuses: domain.Statuses}
	if data.ID != "" {
		_, err := u.store.GetDelivery(ctx, data.ID)
		switch {
		case err == nil:
			http.Redirect(w, r, "/deliveries/"+url.PathEscape(data.ID), http.StatusSeeOther)
			return
		case !errors.Is(err, store.ErrNotFound):
			u.internal(w, r, s, err)
			return
		}
		data.Error = fmt.Sprintf("No delivery has the id %q.", data.ID)
	}
	f := store.DeliveryFilter{Status: domain.Status(data.Status), PartnerID: data.Partner, AssetID: data.Asset, Limit: 200}
	if f.Status != "" && !f.Status.Valid() {
		data.Error, f.Status = fmt.Sprintf("%q is not a delivery status.", data.Status), ""
	}
	var err error
	if data.Deliveries, err = u.store.ListDeliveries(ctx, f); err != nil {
		u.internal(w, r, s, err)
		return
	}
	if data.Partners, err = u.store.ListPartners(ctx); err != nil {
		u.internal(w, r, s, err)
		return
	}
	u.render(w, r, s, http.StatusOK, "deliveries", "Deliveries", data)
}

// eventRow is one outbox event about a delivery, with what the delivery
// looked like when it was written.
type eventRow struct {
	Time      time.Time
	Type      string
	Published bool
	Delivery  domain.Delivery
}

type deliveryData struct {
	D        domain.Delivery
	Events   []eventRow
	Feedback []store.Feedback
	Trace    []spanRow
	Live     bool
	// What the operator may do now.
	CanRetry, CanCancel, CanPrioritize bool
}

func (u *UI) delivery(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := r.Context()
	d, err := u.store.GetDelivery(ctx, r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		u.fail(w, r, s, http.StatusNotFound, fmt.Sprintf("No delivery has the id %q.", r.PathValue("id")))
		return
	}
	if err != nil {
		u.internal(w, r, s, err)
		return
	}
	data := deliveryData{D: d, Live: !d.Status.Terminal(),
		CanRetry:      d.Status == domain.StatusFailed || d.Status == domain.StatusCancelled,
		CanCancel:     !d.Status.Terminal(),
		CanPrioritize: d.Status == domain.StatusQueued}
	events, err := u.store.DeliveryEvents(ctx, d.ID, 500)
	if err != nil {
		u.internal(w, r, s, err)
		return
	}
	for _, e := range events {
		row := eventRow{Time: e.Time, Type: strings.TrimPrefix(e.Type, "syndicate.delivery."), Published: e.PubSeq > 0}
		_ = json.Unmarshal(e.Data, &row.Delivery) // the delivery as it was; a foreign shape leaves it empty
		data.Events = append(data.Events, row)
	}
	if data.Feedback, err = u.store.ListFeedback(ctx, d.ID); err != nil {
		u.internal(w, r, s, err)
		return
	}
	if data.Trace, err = u.waterfall(ctx, d.TraceParent); err != nil {
		u.internal(w, r, s, err)
		return
	}
	u.render(w, r, s, http.StatusOK, "delivery", "Delivery "+d.ID, data)
}

// deliveryAction runs retry, cancel or priority through the same
// controller as the API, then shows the delivery with what happened.
func (u *UI) deliveryAction(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := r.Context()
	id, action := r.PathValue("id"), r.PathValue("action")
	var d domain.Delivery
	var err error
	var done string
	switch action {
	case "retry":
		d, err = u.control.Retry(ctx, id)
		done = fmt.Sprintf("Retried: the delivery is %s again, as run %d.", d.Status, d.Run)
	case "cancel":
		d, err = u.control.Cancel(ctx, id)
		done = "Cancelled."
	case "priority":
		n, perr := strconv.Atoi(r.PostFormValue("priority"))
		if perr != nil || n < 0 || n > 1000 {
			u.sessions.setFlash(s, "Priority: enter a number from 0 (most urgent) to 1000.")
			break
		}
		d, err = u.control.SetPriority(ctx, id, n)
		done = fmt.Sprintf("Priority set to %d.", n)
	default:
		u.fail(w, r, s, http.StatusNotFound, fmt.Sprintf("There is no action %q (there are retry, cancel and priority).", action))
		return
	}
	var te *domain.TransitionError
	switch {
	case errors.Is(err, store.ErrNotFound):
		u.fail(w, r, s, http.StatusNotFound, fmt.Sprintf("No delivery has the id %q.", id))
		return
	case errors.As(err, &te):
		u.sessions.setFlash(s, fmt.Sprintf("Cannot %s a delivery that is %s.", action, te.From))
	case errors.Is(err, domain.ErrNotQueued):
		u.sessions.setFlash(s, "The priority was not changed: the delivery is no longer waiting in the queue.")
	case err != nil:
		u.internal(w, r, s, err)
		return
	case done != "":
		u.log.Info("ui: delivery action", "delivery_id", id, "partner", d.PartnerID, "action", action)
		u.sessions.setFlash(s, done)
	}
	http.Redirect(w, r, "/deliveries/"+url.PathEscape(id), http.StatusSeeOther)
}
