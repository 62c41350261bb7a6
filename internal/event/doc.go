// Package event publishes the outbox. Every delivery state change writes a
// row to syn_events in the transaction that made it (internal/store); the
// Dispatcher stamps those rows with a gap-free publication order and sends
// each event, as CloudEvents 1.0 JSON, to every sink (syn_sinks) whose
// filters match: signed webhooks (webhook.go) and NATS JetStream subjects
// (nats.go). Delivery is at least once and in order per sink: a sink's
// cursor moves only after the sink took the event, so consumers drop
// duplicates by event id. A failing sink is retried with backoff without
// holding up the others; after its max attempts the event becomes a dead
// letter that can be replayed.
package event
