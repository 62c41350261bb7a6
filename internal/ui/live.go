package ui

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/store"
)

// maxStream bounds one live-progress stream; the browser reconnects.
const maxStream = 30 * time.Minute

// progress is one server-sent event: the delivery as the API shows it,
// plus the figures already formatted the way the page shows them.
type progress struct {
	domain.Delivery
	Percent   int    `json:"percent"`
	BytesText string `json:"bytes_text"`
	TotalText string `json:"total_text"`
	RateText  string `json:"rate_text"`
	ETAText   string `json:"eta_text"`
	Terminal  bool   `json:"terminal"`
}

// deliveryEvents streams the delivery as server-sent events, about once a
// second, until it reaches a terminal status (sent once more, last), the
// browser leaves, or the server shuts down.
func (u *UI) deliveryEvents(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := r.Context()
	id := r.PathValue("id")
	d, err := u.store.GetDelivery(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		http.Error(w, "no such delivery", http.StatusNotFound)
		return
	}
	if err != nil {
		u.internal(w, r, s, err)
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprint(w, "retry: 3000\n\n"); err != nil {
		return
	}
	tick := time.NewTicker(u.tick)
	defer tick.Stop()
	limit := time.NewTimer(maxStream)
	defer limit.Stop()
	for {
		if err := sendProgress(w, d); err != nil || rc.Flush() != nil || d.Status.Terminal() {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-u.done:
			return
		case <-limit.C:
			return
		case <-tick.C:
		}
		if d, err = u.store.GetDelivery(ctx, id); err != nil {
			return
		}
	}
}

func sendProgress(w http.ResponseWriter, d domain.Delivery) error {
	b, err := json.Marshal(progress{Delivery: d, Percent: percent(d), BytesText: humanBytes(d.Bytes),
		TotalText: humanBytes(d.TotalBytes), RateText: humanRate(d.Rate), ETAText: eta(d), Terminal: d.Status.Terminal()})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "data: %s\n\n", b)
	return err
}
