// Package natsq consumes notifications from a NATS JetStream stream through
// a durable pull consumer with explicit acks. A message is acked only after
// the Sink committed it; a transient failure naks it with a delay; poison —
// or a message that failed MaxDeliver times — is published to a dead-letter
// subject (headers: reason, original subject, delivery count) and then
// acked.
package natsq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/syndicate-media/syndicate/internal/consumer"
	"github.com/syndicate-media/syndicate/internal/secret"
)

// Headers on a dead letter.
const (
	HeaderReason          = "Syndicate-Dead-Letter-Reason"
	HeaderSubject         = "Syndicate-Original-Subject"
	HeaderDeliveries      = "Syndicate-Delivery-Count"
	HeaderStream          = "Syndicate-Original-Stream"
	HeaderStreamSequence  = "Syndicate-Original-Sequence"
	defaultMaxDeliver     = 5
	defaultAckWait        = 60 * time.Second
	defaultBatch          = 10
	defaultDeadLetterSufx = ".dead"
	longPoll              = 5 * time.Second
)

// Config is a JetStream consumer.
type Config struct {
	// URL is nats://host:port (no credentials in it).
	URL string `json:"url"`
	// Stream holds Subject; it is created (file storage, limits retention)
	// if it does not exist.
	Stream string `json:"stream"`
	// Subject is the consumer's filter subject (wildcards allowed).
	Subject string `json:"subject"`
	// Durable names the consumer, shared by every Syndicate process that
	// consumes the stream (each message goes to one of them).
	Durable string `json:"durable"`
	// DeadLetterSubject receives poison and given-up messages (default
	// Subject's tokens before any wildcard + ".dead", or STREAM.dead if
	// Subject would match that); if no stream stores it, a stream
	// STREAM_DEAD_LETTER is created for it. It must not match Subject.
	DeadLetterSubject string `json:"dead_letter_subject,omitempty"`
	// Batch is the most messages fetched and submitted at once (default 10).
	Batch int `json:"batch,omitempty"`
	// MaxDeliver: a message that fails transiently on its MaxDeliver-th
	// delivery is dead-lettered (default 5). The server-side consumer
	// redelivers without limit, so a crash on the last delivery loses
	// nothing.
	MaxDeliver int `json:"max_deliver,omitempty"`
	// AckWait is how long a delivered message stays leased (default 60s);
	// a slow submit extends it (InProgress) every AckWait/3.
	AckWait time.Duration `json:"ack_wait,omitempty"`
	// Credentials is a secret reference (env:NAME, file:/path, aws-ssm:/…)
	// to an auth token; empty: none.
	Credentials string `json:"credentials,omitempty"`
	// RetryBase is the first nak delay, doubled per delivery (default 1s).
	RetryBase time.Duration `json:"retry_base,omitempty"`
	// StopGrace is how long in-flight submits may finish at a stop
	// (default 10s); the rest are naked for another process.
	StopGrace time.Duration `json:"-"`
}

// ParseURL reads the one-line form `syndicate serve --nats-consumer` takes:
//
//	nats://host:4222?stream=NOTIFY&subject=notify.in&durable=syndicate
//	    &dead_letter_subject=notify.dead&batch=10&max_deliver=5&ack_wait=60s
//	    &retry_base=1s&credentials=env:NATS_TOKEN
//
// Unknown parameters are refused; the result is validated.
func ParseURL(raw string) (Config, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Config{}, fmt.Errorf("nats consumer: %w", err)
	}
	q := u.Query()
	u.RawQuery, u.Fragment = "", ""
	c := Config{URL: u.String()}
	for k, vs := range q {
		v := vs[len(vs)-1]
		switch k {
		case "stream":
			c.Stream = v
		case "subject":
			c.Subject = v
		case "durable":
			c.Durable = v
		case "dead_letter_subject":
			c.DeadLetterSubject = v
		case "credentials":
			c.Credentials = v
		case "batch", "max_deliver":
			n, err := strconv.Atoi(v)
			if err != nil {
				return Config{}, fmt.Errorf("nats consumer: %s=%q: want a number", k, v)
			}
			if k == "batch" {
				c.Batch = n
			} else {
				c.MaxDeliver = n
			}
		case "ack_wait", "retry_base":
			d, err := time.ParseDuration(v)
			if err != nil {
				return Config{}, fmt.Errorf("nats consumer: %s=%q: want a duration like 30s", k, v)
			}
			if k == "ack_wait" {
				c.AckWait = d
			} else {
				c.RetryBase = d
			}
		default:
			return Config{}, fmt.Errorf("nats consumer: unknown parameter %q (have stream, subject, durable, dead_letter_subject, batch, max_deliver, ack_wait, retry_base, credentials)", k)
		}
	}
	return c, c.Validate()
}

// Validate checks the configuration without connecting and fills in the
// defaults.
func (c *Config) Validate() error {
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		return errors.New("nats consumer: url is required (nats://host:port)")
	case err != nil:
		return fmt.Errorf("nats consumer: url: %w", err)
	case u.Scheme != "nats" && u.Scheme != "tls":
		return fmt.Errorf("nats consumer: url %q: want nats://host:port", c.URL)
	case u.User != nil:
		return errors.New("nats consumer: url must not contain credentials; set credentials to a reference (env:NAME, file:/path)")
	case u.Hostname() == "":
		return fmt.Errorf("nats consumer: url %q has no host", c.URL)
	}
	if !validName(c.Stream) {
		return fmt.Errorf("nats consumer: stream %q: want letters, digits, - and _", c.Stream)
	}
	if !validName(c.Durable) {
		return fmt.Errorf("nats consumer: durable %q: want letters, digits, - and _", c.Durable)
	}
	if err := validSubject(c.Subject, true); err != nil {
		return fmt.Errorf("nats consumer: subject: %w", err)
	}
	if c.DeadLetterSubject == "" {
		c.DeadLetterSubject = defaultDeadLetter(c.Subject)
		if subjectMatches(c.Subject, c.DeadLetterSubject) {
			c.DeadLetterSubject = c.Stream + defaultDeadLetterSufx
		}
	}
	if err := validSubject(c.DeadLetterSubject, false); err != nil {
		return fmt.Errorf("nats consumer: dead_letter_subject: %w", err)
	}
	if subjectMatches(c.Subject, c.DeadLetterSubject) {
		return fmt.Errorf("nats consumer: dead_letter_subject %q matches subject %q: dead letters would be consumed again", c.DeadLetterSubject, c.Subject)
	}
	if c.Batch < 0 || c.Batch > 256 {
		return fmt.Errorf("nats consumer: batch %d: want 1-256", c.Batch)
	}
	if c.MaxDeliver < 0 {
		return fmt.Errorf("nats consumer: max_deliver %d: want 1 or more", c.MaxDeliver)
	}
	if c.AckWait < 0 || (c.AckWait > 0 && c.AckWait < time.Second) {
		return fmt.Errorf("nats consumer: ack_wait %s: want at least 1s", c.AckWait)
	}
	if c.Credentials != "" && !strings.Contains(c.Credentials, ":") {
		return errors.New("nats consumer: credentials must be a secret reference (env:NAME, file:/path or aws-ssm:/path), not the secret itself")
	}
	if c.Batch == 0 {
		c.Batch = defaultBatch
	}
	if c.MaxDeliver == 0 {
		c.MaxDeliver = defaultMaxDeliver
	}
	if c.AckWait == 0 {
		c.AckWait = defaultAckWait
	}
	if c.RetryBase <= 0 {
		c.RetryBase = time.Second
	}
	return nil
}

// defaultDeadLetter is the subject with its wildcards dropped, + ".dead".
func defaultDeadLetter(subject string) string {
	var keep []string
	for _, t := range strings.Split(subject, ".") {
		if t == "*" || t == ">" {
			break
		}
		keep = append(keep, t)
	}
	if len(keep) == 0 {
		keep = []string{"syndicate"}
	}
	return strings.Join(keep, ".") + defaultDeadLetterSufx
}

func validName(s string) bool {
	if s == "" || len(s) > 200 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

func validSubject(s string, wildcards bool) error {
	if s == "" {
		return errors.New("required")
	}
	toks := strings.Split(s, ".")
	for i, t := range toks {
		switch {
		case t == "" || strings.ContainsAny(t, " \t\r\n"):
			return fmt.Errorf("%q: want dot-separated tokens without spaces", s)
		case (t == "*" || t == ">") && !wildcards:
			return fmt.Errorf("%q: wildcards are not allowed here", s)
		case t == ">" && i != len(toks)-1:
			return fmt.Errorf("%q: > must be the last token", s)
		case t != "*" && t != ">" && strings.ContainsAny(t, "*>"):
			return fmt.Errorf("%q: * and > must be whole tokens", s)
		}
	}
	return nil
}

// subjectMatches reports whether subject (no wildcards) matches filter.
func subjectMatches(filter, subject string) bool {
	f, s := strings.Split(filter, "."), strings.Split(subject, ".")
	for i, t := range f {
		if t == ">" {
			return len(s) > i
		}
		if i >= len(s) || (t != "*" && t != s[i]) {
			return false
		}
	}
	return len(f) == len(s)
}

// Open validates cfg, connects, makes sure the stream, the durable consumer
// and a stream for the dead letters exist, and returns a Runner ready to
// Run. Errors name what is wrong (unreachable server, refused token, a
// missing secret) without the secret.
func Open(ctx context.Context, cfg Config, sink consumer.Sink, log *slog.Logger, m *consumer.Metrics) (*consumer.Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	src, err := dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &consumer.Runner{Name: "nats:" + cfg.Stream + "/" + cfg.Durable, Source: src, Sink: sink,
		Concurrency: cfg.Batch, Batch: cfg.Batch, MaxAttempts: cfg.MaxDeliver, RetryBase: cfg.RetryBase,
		ExtendEvery: cfg.AckWait / 3, StopGrace: cfg.StopGrace, Log: log, Metrics: m}, nil
}

func dial(ctx context.Context, cfg Config) (*source, error) {
	opts := []nats.Option{nats.Name("syndicate-consumer"), nats.Timeout(10 * time.Second), nats.MaxReconnects(-1)}
	if cfg.Credentials != "" {
		token, err := secret.Resolve(cfg.Credentials)
		if err != nil {
			return nil, fmt.Errorf("nats consumer: credentials: %w", err)
		}
		opts = append(opts, nats.Token(strings.TrimSpace(string(token))))
	}
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("nats consumer: connect %s: %w", cfg.URL, err)
	}
	s := &source{nc: nc, cfg: cfg}
	if err := s.setup(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	return s, nil
}

type source struct {
	nc       *nats.Conn
	js       jetstream.JetStream
	cons     jetstream.Consumer
	cfg      Config
	idPrefix string
}

// StreamIDPrefix starts the id of a message that has no Nats-Msg-Id:
// nats:STREAM:CREATED: (the stream's creation time, base 36 nanoseconds),
// then its sequence. The creation time keeps a stream deleted and made
// again from reusing the ids, and so the idempotency keys, of the old one.
func StreamIDPrefix(stream string, created time.Time) string {
	return "nats:" + stream + ":" + strconv.FormatInt(created.UnixNano(), 36) + ":"
}

func (s *source) setup(ctx context.Context) error {
	var err error
	if s.js, err = jetstream.New(s.nc); err != nil {
		return fmt.Errorf("nats consumer: %w", err)
	}
	c := s.cfg
	stream, err := s.js.Stream(ctx, c.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		stream, err = s.js.CreateStream(ctx, jetstream.StreamConfig{Name: c.Stream, Subjects: []string{c.Subject}})
		if err != nil {
			return fmt.Errorf("nats consumer: create stream %s for %s: %w", c.Stream, c.Subject, err)
		}
	} else if err != nil {
		return fmt.Errorf("nats consumer: stream %s: %w", c.Stream, err)
	}
	s.idPrefix = StreamIDPrefix(c.Stream, stream.CachedInfo().Created)
	if _, err := s.js.StreamNameBySubject(ctx, c.DeadLetterSubject); errors.Is(err, jetstream.ErrStreamNotFound) {
		name := c.Stream + "_DEAD_LETTER"
		if _, err := s.js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{c.DeadLetterSubject}}); err != nil {
			return fmt.Errorf("nats consumer: create stream %s for dead letters on %s: %w", name, c.DeadLetterSubject, err)
		}
	} else if err != nil {
		return fmt.Errorf("nats consumer: stream for dead letters on %s: %w", c.DeadLetterSubject, err)
	}
	s.cons, err = s.js.CreateOrUpdateConsumer(ctx, c.Stream, jetstream.ConsumerConfig{
		Durable: c.Durable, FilterSubject: c.Subject, AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: c.AckWait, MaxDeliver: -1, MaxAckPending: max(1000, 4*c.Batch),
		Description: "syndicate notifications consumer",
	})
	if err != nil {
		return fmt.Errorf("nats consumer: durable %s on stream %s: %w", c.Durable, c.Stream, err)
	}
	return nil
}

// Fetch takes what is there at once; if nothing is, it waits up to
// longPoll for one message.
func (s *source) Fetch(ctx context.Context, n int) ([]consumer.Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	batch, err := s.cons.FetchNoWait(n)
	if err != nil {
		return nil, fmt.Errorf("nats consumer: fetch: %w", err)
	}
	out, err := s.collect(batch)
	if len(out) > 0 || err != nil {
		return out, err
	}
	pctx, cancel := context.WithTimeout(ctx, longPoll)
	defer cancel()
	batch, err = s.cons.Fetch(1, jetstream.FetchContext(pctx))
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("nats consumer: fetch: %w", err)
	}
	out, err = s.collect(batch)
	if err != nil && ctx.Err() != nil {
		return out, nil
	}
	return out, err
}

func (s *source) collect(b jetstream.MessageBatch) ([]consumer.Message, error) {
	var out []consumer.Message
	for m := range b.Messages() {
		msg, err := s.wrap(m)
		if err != nil {
			// Without metadata it cannot be acked properly: leave it to
			// AckWait and say so.
			return out, err
		}
		out = append(out, msg)
	}
	err := b.Error()
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.Is(err, nats.ErrTimeout) {
		err = nil
	}
	if err != nil {
		return out, fmt.Errorf("nats consumer: fetch: %w", err)
	}
	return out, nil
}

func (s *source) wrap(m jetstream.Msg) (*message, error) {
	md, err := m.Metadata()
	if err != nil {
		return nil, fmt.Errorf("nats consumer: message metadata: %w", err)
	}
	// The publisher's own dedup id names the notification best; else the
	// stream sequence, which is the same on every redelivery.
	id := "nats:" + md.Stream + ":" + m.Headers().Get(jetstream.MsgIDHeader)
	if m.Headers().Get(jetstream.MsgIDHeader) == "" {
		id = s.idPrefix + strconv.FormatUint(md.Sequence.Stream, 10)
	}
	return &message{m: m, src: s, md: md, id: id}, nil
}

func (s *source) Close() error {
	return s.nc.Drain()
}

type message struct {
	m   jetstream.Msg
	src *source
	md  *jetstream.MsgMetadata
	id  string
}

func (m *message) Body() []byte { return m.m.Data() }
func (m *message) ID() string   { return m.id }
func (m *message) Attempt() int { return int(m.md.NumDelivered) }

// Ack waits for the server's confirmation, so a committed message is
// counted as acked only once the server knows.
func (m *message) Ack(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return m.m.DoubleAck(ctx)
}

func (m *message) Retry(_ context.Context, delay time.Duration) error {
	if delay <= 0 {
		return m.m.Nak()
	}
	return m.m.NakWithDelay(delay)
}

func (m *message) Extend(context.Context) error { return m.m.InProgress() }

// DeadLetter publishes a copy with its original headers plus the reason,
// subject and delivery count, waits for the stream to store it, then acks
// the original. Nats-Msg-Id makes a second publish (after a
// crash between the two) a duplicate the stream drops.
func (m *message) DeadLetter(ctx context.Context, reason string) error {
	dl := nats.NewMsg(m.src.cfg.DeadLetterSubject)
	dl.Data = m.m.Data()
	for k, v := range m.m.Headers() {
		if k != jetstream.MsgIDHeader {
			dl.Header[k] = v
		}
	}
	dl.Header.Set(HeaderReason, reason)
	dl.Header.Set(HeaderSubject, m.m.Subject())
	dl.Header.Set(HeaderDeliveries, strconv.FormatUint(m.md.NumDelivered, 10))
	dl.Header.Set(HeaderStream, m.md.Stream)
	dl.Header.Set(HeaderStreamSequence, strconv.FormatUint(m.md.Sequence.Stream, 10))
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := m.src.js.PublishMsg(ctx, dl, jetstream.WithMsgID("dead:"+m.id)); err != nil {
		return fmt.Errorf("nats consumer: publish dead letter to %s: %w", m.src.cfg.DeadLetterSubject, err)
	}
	// Acked, confirmed, rather than terminated: +TERM is not confirmed,
	// and servers before 2.10.4 ignore +TERM with a reason and redeliver.
	return m.m.DoubleAck(ctx)
}

var (
	_ consumer.Source  = (*source)(nil)
	_ consumer.Message = (*message)(nil)
)
