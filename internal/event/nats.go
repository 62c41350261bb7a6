package event

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/syndicate-media/syndicate/internal/secret"
	"github.com/syndicate-media/syndicate/internal/store"
)

// StreamName is the JetStream stream a NATS sink creates, with subjects
// PREFIX.>, when no stream stores its subjects yet; if a sink with another
// prefix made it, the stream is StreamName_PREFIX instead. An operator who
// wants other limits (retention, replicas) creates a stream for the
// subjects first.
const StreamName = "SYNDICATE_EVENTS"

// natsSink publishes each event to JetStream subject PREFIX.TYPE with the
// header Nats-Msg-Id = event id, so that JetStream drops a re-sent event
// within its duplicate window.
type natsSink struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	prefix string

	mu       sync.Mutex
	streamOK bool
}

// parseNATSTarget splits nats://host:port/prefix into the server URL and
// the subject prefix.
func parseNATSTarget(raw string) (server, prefix string, err error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "", "", fmt.Errorf("url: %w", err)
	case u.Scheme != "nats":
		return "", "", fmt.Errorf("url: %q: want nats://host:port/subject.prefix", raw)
	case u.Hostname() == "":
		return "", "", fmt.Errorf("url: %q has no host", raw)
	case u.User != nil:
		return "", "", errors.New("url: must not contain credentials; put a token reference in secret: env:NAME or file:/path")
	}
	prefix = strings.Trim(u.Path, "/")
	if prefix == "" {
		return "", "", fmt.Errorf("url: %q: the path is the subject prefix, e.g. nats://127.0.0.1:4222/syndicate.events", raw)
	}
	for _, tok := range strings.Split(prefix, ".") {
		if tok == "" || tok == "*" || tok == ">" || strings.ContainsAny(tok, " \t\r\n/") {
			return "", "", fmt.Errorf("url: subject prefix %q: want dot-separated tokens without wildcards or spaces", prefix)
		}
	}
	return "nats://" + u.Host, prefix, nil
}

func openNATS(k store.Sink) (Sender, error) {
	server, prefix, err := parseNATSTarget(k.Target)
	if err != nil {
		return nil, err
	}
	opts := []nats.Option{nats.Name("syndicate"), nats.Timeout(10 * time.Second), nats.MaxReconnects(-1)}
	if k.SecretRef != "" {
		token, err := secret.Resolve(k.SecretRef)
		if err != nil {
			return nil, fmt.Errorf("nats: %w", err)
		}
		opts = append(opts, nats.Token(strings.TrimSpace(string(token))))
	}
	nc, err := nats.Connect(server, opts...)
	if err != nil {
		return nil, fmt.Errorf("nats %s: %w", server, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats %s: %w", server, err)
	}
	return &natsSink{nc: nc, js: js, prefix: prefix}, nil
}

// ensureStream makes sure a stream stores PREFIX.>, creating StreamName if
// no stream does.
func (n *natsSink) ensureStream(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.streamOK {
		return nil
	}
	subjects := n.prefix + ".>"
	_, err := n.js.StreamNameBySubject(ctx, subjects)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = n.js.CreateStream(ctx, jetstream.StreamConfig{Name: StreamName, Subjects: []string{subjects}})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			// Another prefix's sink made it.
			_, err = n.js.CreateStream(ctx, jetstream.StreamConfig{Name: prefixStream(n.prefix), Subjects: []string{subjects}})
		}
	}
	if err != nil {
		return fmt.Errorf("nats: stream for %s: %w", subjects, err)
	}
	n.streamOK = true
	return nil
}

// prefixStream names the stream of a prefix when StreamName already
// serves another one. Streams are not shared between prefixes: JetStream
// drops a message whose Nats-Msg-Id it saw in the same stream, and two
// sinks publish the same event ids.
func prefixStream(prefix string) string {
	return StreamName + "_" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' {
			return r - 'a' + 'A'
		}
		if r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '_'
	}, prefix)
}

func (n *natsSink) Send(ctx context.Context, e store.Event, body []byte) error {
	if err := n.ensureStream(ctx); err != nil {
		return err
	}
	m := nats.NewMsg(n.prefix + "." + e.Type)
	m.Data = body
	m.Header.Set("Content-Type", ContentType)
	if _, err := n.js.PublishMsg(ctx, m, jetstream.WithMsgID(e.ID)); err != nil {
		return fmt.Errorf("nats: publish %s: %w", m.Subject, err)
	}
	return nil
}

func (n *natsSink) Close() error {
	n.nc.Close()
	return nil
}

var _ Sender = (*natsSink)(nil)
