package ui

import (
	"net/http"
	"time"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/store"
)

const (
	bucket  = 5 * time.Minute
	buckets = 12 // one hour
)

type statusCount struct {
	Status domain.Status
	N      int
}

// bar is one 5-minute bucket of the throughput chart, laid out in SVG
// units (the chart is 600 × 180; bars stand on y = 150).
type bar struct {
	Label        string
	Bytes        int64
	X, Y, W, H   int
	LabelX, TopY int
}

type failingPartner struct {
	PartnerID   string
	Failed      int
	LatestID    string
	LatestError string
	LatestAt    *time.Time
}

type dashboardData struct {
	Counts     []statusCount
	Total      int
	Bars       []bar
	HourBytes  int64
	HourCount  int
	Failing    []failingPartner
	Since, Now time.Time
}

func (u *UI) dashboard(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := r.Context()
	now := u.store.Now()
	data := dashboardData{Now: now, Since: now.Add(-time.Hour)}
	counts, err := u.store.CountByStatus(ctx)
	if err != nil {
		u.internal(w, r, s, err)
		return
	}
	for _, st := range domain.Statuses {
		data.Counts = append(data.Counts, statusCount{st, counts[st]})
		data.Total += counts[st]
	}
	end := now.Truncate(bucket).Add(bucket)
	delivered, err := u.store.FinishedSince(ctx, domain.StatusDelivered, end.Add(-buckets*bucket))
	if err != nil {
		u.internal(w, r, s, err)
		return
	}
	data.Bars, data.HourBytes = throughput(delivered, end)
	data.HourCount = len(delivered)
	failed, err := u.store.FailedSince(ctx, data.Since, 1000)
	if err != nil {
		u.internal(w, r, s, err)
		return
	}
	data.Failing = failingPartners(failed)
	u.render(w, r, s, http.StatusOK, "dashboard", "Dashboard", data)
}

// throughput sums the bytes of deliveries finished in each 5-minute bucket
// of the hour before end, and lays the buckets out as bars.
func throughput(finished []store.Finished, end time.Time) ([]bar, int64) {
	sums := make([]int64, buckets)
	var total int64
	start := end.Add(-buckets * bucket)
	for _, f := range finished {
		if f.At.Before(start) { // integer division would put it in the first bucket
			continue
		}
		if i := int(f.At.Sub(start) / bucket); i < buckets {
			sums[i] += f.Bytes
			total += f.Bytes
		}
	}
	top := int64(1)
	for _, n := range sums {
		top = max(top, n)
	}
	const width, height, base, gap = 50, 130, 150, 10
	bars := make([]bar, buckets)
	for i, n := range sums {
		h := int(n * height / top)
		if n > 0 && h < 2 {
			h = 2 // a small but real amount stays visible
		}
		x := i * width
		bars[i] = bar{Label: start.Add(time.Duration(i) * bucket).UTC().Format("15:04"), Bytes: n,
			X: x + gap/2, Y: base - h, W: width - gap, H: h, LabelX: x + width/2, TopY: base - h - 4}
	}
	return bars, total
}

// failingPartners groups failed deliveries (newest first) by partner,
// keeping each partner's latest error.
func failingPartners(failed []domain.Delivery) []failingPartner {
	var out []failingPartner
	index := map[string]int{}
	for _, d := range failed {
		i, ok := index[d.PartnerID]
		if !ok {
			index[d.PartnerID] = len(out)
			out = append(out, failingPartner{PartnerID: d.PartnerID, LatestID: d.ID, LatestError: d.LastError, LatestAt: d.FinishedAt})
			i = len(out) - 1
		}
		out[i].Failed++
	}
	return out
}
