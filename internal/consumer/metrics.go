package consumer

import "github.com/prometheus/client_golang/prometheus"

// Metrics counts what consumers did. A nil *Metrics records nothing.
// It is a prometheus.Collector: register it on the server's registry.
type Metrics struct {
	messages *prometheus.CounterVec
	inflight *prometheus.GaugeVec
	fetchErr *prometheus.CounterVec
}

// NewMetrics makes the consumer metrics:
// syndicate_consumer_messages_total{consumer,outcome} (received, committed,
// retried, dead_lettered, released, ack_failed),
// syndicate_consumer_in_flight{consumer} and
// syndicate_consumer_fetch_errors_total{consumer}.
func NewMetrics() *Metrics {
	return &Metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "syndicate_consumer_messages_total",
			Help: "Queue messages by consumer and outcome (received, committed, retried, dead_lettered, released, ack_failed)."},
			[]string{"consumer", "outcome"}),
		inflight: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "syndicate_consumer_in_flight",
			Help: "Queue messages being submitted now."}, []string{"consumer"}),
		fetchErr: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "syndicate_consumer_fetch_errors_total",
			Help: "Failed fetches from a queue (retried with backoff)."}, []string{"consumer"}),
	}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.messages.Describe(ch)
	m.inflight.Describe(ch)
	m.fetchErr.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.messages.Collect(ch)
	m.inflight.Collect(ch)
	m.fetchErr.Collect(ch)
}

// Counter is the messages_total series for consumer and outcome (for
// tests and the demo).
func (m *Metrics) Counter(consumer, outcome string) prometheus.Counter {
	return m.messages.WithLabelValues(consumer, outcome)
}

func (m *Metrics) received(c string) { m.outcome(c, "received") }

func (m *Metrics) outcome(c, outcome string) {
	if m != nil {
		m.messages.WithLabelValues(c, outcome).Inc()
	}
}

func (m *Metrics) inFlight(c string, d float64) {
	if m != nil {
		m.inflight.WithLabelValues(c).Add(d)
	}
}

func (m *Metrics) fetchError(c string) {
	if m != nil {
		m.fetchErr.WithLabelValues(c).Inc()
	}
}

var _ prometheus.Collector = (*Metrics)(nil)
