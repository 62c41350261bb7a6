package telemetry

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/syndicate-media/syndicate/internal/store"
)

// Metrics are a server's Prometheus metrics, on a registry of its own (a
// test process runs many servers). A nil *Metrics records nothing.
//
// Counters and the step histogram count this process's work; the
// delivery gauges are read from the database at scrape time (cached for
// statsTTL), so every process reports the same cluster-wide figures.
type Metrics struct {
	reg           *prometheus.Registry
	notifications prometheus.Counter
	transferBytes *prometheus.CounterVec
	stepDuration  *prometheus.HistogramVec
}

// statsTTL is how long one database count serves scrapes.
const statsTTL = 5 * time.Second

func newMetrics(st *store.Store) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		notifications: prometheus.NewCounter(prometheus.CounterOpts{Name: "syndicate_notifications_accepted_total",
			Help: "Notifications accepted (not counting replays of an idempotency key)."}),
		transferBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "syndicate_transfer_bytes_total",
			Help: "Bytes sent to partners by this process."}, []string{"partner"}),
		stepDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "syndicate_step_duration_seconds",
			Help:    "Duration of delivery workflow steps (start, package, pace, transfer, finish, fail), each attempt.",
			Buckets: prometheus.ExponentialBucketsRange(0.005, 4*3600, 16)}, []string{"step"}),
	}
	m.reg.MustRegister(m.notifications, m.transferBytes, m.stepDuration, &deliveryStats{st: st},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Register adds another component's collector (e.g. the queue
// consumers') to this server's registry.
func (m *Metrics) Register(c prometheus.Collector) error {
	if m == nil {
		return nil
	}
	return m.reg.Register(c)
}

// NotificationAccepted counts one accepted notification.
func (m *Metrics) NotificationAccepted() {
	if m != nil {
		m.notifications.Inc()
	}
}

// TransferBytes counts n bytes sent to partner.
func (m *Metrics) TransferBytes(partner string, n int64) {
	if m != nil && n > 0 {
		m.transferBytes.WithLabelValues(partner).Add(float64(n))
	}
}

// ObserveStep records how long one run of a workflow step took.
func (m *Metrics) ObserveStep(step string, d time.Duration) {
	if m != nil {
		m.stepDuration.WithLabelValues(step).Observe(d.Seconds())
	}
}

var (
	descDeliveries = prometheus.NewDesc("syndicate_deliveries", "Deliveries by partner and status (from the database).",
		[]string{"partner", "status"}, nil)
	descQueue = prometheus.NewDesc("syndicate_queue_depth", "Queued deliveries waiting for a transfer slot, by partner.",
		[]string{"partner"}, nil)
	descRate = prometheus.NewDesc("syndicate_transfer_rate_bytes_per_second",
		"Current transfer rate to each partner: the sum over its transferring deliveries (last second).", []string{"partner"}, nil)
)

// deliveryStats reads the delivery gauges from the database, at most once
// per statsTTL however often it is scraped.
type deliveryStats struct {
	st   *store.Store
	mu   sync.Mutex
	at   time.Time
	rows []store.PartnerStatus
}

func (d *deliveryStats) Describe(ch chan<- *prometheus.Desc) {
	ch <- descDeliveries
	ch <- descQueue
	ch <- descRate
}

func (d *deliveryStats) Collect(ch chan<- prometheus.Metric) {
	rows, err := d.load()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descDeliveries, err)
		return
	}
	queued, rate := map[string]float64{}, map[string]float64{}
	for _, r := range rows {
		ch <- prometheus.MustNewConstMetric(descDeliveries, prometheus.GaugeValue, float64(r.Count), r.PartnerID, r.Status)
		queued[r.PartnerID] += 0
		rate[r.PartnerID] += float64(r.Rate)
		if r.Status == "queued" {
			queued[r.PartnerID] += float64(r.Count)
		}
	}
	for p, n := range queued {
		ch <- prometheus.MustNewConstMetric(descQueue, prometheus.GaugeValue, n, p)
		ch <- prometheus.MustNewConstMetric(descRate, prometheus.GaugeValue, rate[p], p)
	}
}

func (d *deliveryStats) load() ([]store.PartnerStatus, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if time.Since(d.at) < statsTTL {
		return d.rows, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows, err := d.st.DeliveryStats(ctx)
	if err != nil {
		return nil, err
	}
	d.rows, d.at = rows, time.Now()
	return rows, nil
}
