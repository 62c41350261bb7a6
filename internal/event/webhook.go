package event

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/syndicate-media/syndicate/internal/secret"
	"github.com/syndicate-media/syndicate/internal/store"
)

// WebhookTimeout bounds one POST to a webhook receiver.
const WebhookTimeout = 10 * time.Second

// StatusError is a webhook receiver's non-2xx answer.
type StatusError struct {
	Code int
	// Body is the start of the receiver's answer, for the operator.
	Body string
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("receiver answered %d %s", e.Code, http.StatusText(e.Code))
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// webhook POSTs structured-mode CloudEvents JSON, signed with the secret
// its reference resolves to (resolved per request, so a rotated file or
// variable takes effect without a restart).
type webhook struct {
	url       string
	safeURL   string // for errors and logs: scheme and host only, as paths and queries may hold tokens
	secretRef string
	client    *http.Client
	now       func() time.Time
}

func openWebhook(k store.Sink) (Sender, error) {
	u, err := parseWebhookURL(k.Target)
	if err != nil {
		return nil, err
	}
	return &webhook{
		url: k.Target, safeURL: u.Scheme + "://" + u.Host, secretRef: k.SecretRef, now: time.Now,
		client: &http.Client{
			Timeout: WebhookTimeout,
			// A redirect is an answer that is not 2xx: a failure, not a
			// reason to send the signed event somewhere else.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, nil
}

// parseWebhookURL accepts http(s) URLs with a host and no credentials.
func parseWebhookURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, fmt.Errorf("url: %w", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("url: %q: want an http:// or https:// URL", raw)
	case u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("url: %q has no host", raw)
	case u.User != nil:
		return nil, errors.New("url: must not contain credentials; the secret goes in secret: env:NAME or file:/path")
	}
	return u, nil
}

func (w *webhook) Send(ctx context.Context, _ store.Event, body []byte) error {
	_, err := w.post(ctx, body)
	return err
}

// post sends body and returns the receiver's status; 2xx is success.
func (w *webhook) post(ctx context.Context, body []byte) (int, error) {
	key, err := secret.Resolve(w.secretRef)
	if err != nil {
		return 0, fmt.Errorf("webhook: %w", err)
	}
	if len(key) == 0 {
		return 0, errors.New("webhook: no signing secret (secret: env:NAME or file:/path)")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("webhook %s: %w", w.safeURL, err)
	}
	ts := strconv.FormatInt(w.now().Unix(), 10)
	req.Header.Set("Content-Type", ContentType)
	req.Header.Set("User-Agent", "syndicate")
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(key, ts, body))
	resp, err := w.client.Do(req)
	if err != nil {
		// url.Error repeats the whole URL.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, fmt.Errorf("webhook POST %s: %w", w.safeURL, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("webhook POST %s: %w", w.safeURL,
			&StatusError{Code: resp.StatusCode, Body: strings.TrimSpace(strings.ToValidUTF8(string(snippet), "?"))})
	}
	return resp.StatusCode, nil
}

func (w *webhook) Close() error {
	w.client.CloseIdleConnections()
	return nil
}

var _ Sender = (*webhook)(nil)
