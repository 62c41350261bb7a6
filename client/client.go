// Package client is a Go client for Syndicate's HTTP API, used by the CLI
// and the demo. Errors from the server come back as *Error with the
// server's code and message.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/syndicate-media/syndicate/internal/api"
	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/event"
	"github.com/syndicate-media/syndicate/internal/intake"
	"github.com/syndicate-media/syndicate/internal/store"
)

// Client talks to one Syndicate server.
type Client struct {
	BaseURL string
	Token   string
	HTTP    *http.Client
}

// New returns a client for baseURL with a bearer token.
func New(baseURL, token string) *Client {
	return &Client{BaseURL: baseURL, Token: token, HTTP: &http.Client{Timeout: 60 * time.Second}}
}

// Error is an error answer from the server.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%s (HTTP %d): %s", e.Code, e.Status, e.Message) }

// Do sends a request with body (nil, []byte sent as is, or JSON-encoded)
// and decodes the JSON answer into out.
func (c *Client) Do(ctx context.Context, method, path, contentType string, body any, out any) error {
	return c.DoHeaders(ctx, method, path, map[string]string{"Content-Type": contentType}, body, out)
}

// DoHeaders is Do with extra request headers (e.g. a signature).
func (c *Client) DoHeaders(ctx context.Context, method, path string, headers map[string]string, body any, out any) error {
	contentType := headers["Content-Type"]
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return err
		}
		rd, contentType = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, rd)
	if err != nil {
		return err
	}
	for k, v := range headers {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 400 {
		var e api.Error
		if json.Unmarshal(data, &e) != nil || e.Code == "" {
			e = api.Error{Code: "http_error", Message: string(data)}
		}
		return &Error{Status: resp.StatusCode, Code: e.Code, Message: e.Message}
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(data, out)
}

// Notify sends a notification and waits until it is decided, returning
// the decisions (a failed notification is an *Error with the reason's
// code). The server holds the request for up to 30 s; if it is still
// undecided then, Notify polls until ctx ends.
func (c *Client) Notify(ctx context.Context, req intake.Request) (intake.Response, error) {
	var resp intake.Response
	if err := c.Do(ctx, "POST", "/v1/notifications?wait=true", "", req, &resp); err != nil {
		return resp, err
	}
	for resp.Status == "accepted" {
		select {
		case <-ctx.Done():
			return resp, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
		replayed := resp.Replayed
		n, err := c.Notification(ctx, resp.NotificationID)
		if err != nil {
			return resp, err
		}
		resp = n
		resp.Replayed = replayed
		if resp.Status == "failed" && resp.Error != nil {
			return resp, &Error{Status: http.StatusUnprocessableEntity, Code: resp.Error.Code, Message: resp.Error.Message}
		}
	}
	return resp, nil
}

// Accept sends a notification and returns as soon as it is accepted
// (stored durably, not decided yet).
func (c *Client) Accept(ctx context.Context, req intake.Request) (intake.Response, error) {
	var resp intake.Response
	err := c.Do(ctx, "POST", "/v1/notifications", "", req, &resp)
	return resp, err
}

// NotifyDryRun asks what a notification would decide, per partner,
// without recording, scheduling or delivering anything.
func (c *Client) NotifyDryRun(ctx context.Context, req intake.Request) (intake.Response, error) {
	var resp intake.Response
	err := c.Do(ctx, "POST", "/v1/notifications?dry_run=true", "", req, &resp)
	return resp, err
}

// NotifyBatch sends up to 1000 notifications in one request; wait asks
// the server to answer once they are decided (at most 30 s).
func (c *Client) NotifyBatch(ctx context.Context, reqs []intake.Request, wait bool) (api.BatchResponse, error) {
	var resp api.BatchResponse
	path := "/v1/notifications:batch"
	if wait {
		path += "?wait=true"
	}
	err := c.Do(ctx, "POST", path, "", map[string]any{"notifications": reqs}, &resp)
	return resp, err
}

// Notification returns where a notification stands.
func (c *Client) Notification(ctx context.Context, id string) (intake.Response, error) {
	var resp intake.Response
	err := c.Do(ctx, "GET", "/v1/notifications/"+url.PathEscape(id), "", nil, &resp)
	return resp, err
}

// PutAsset stores an asset in the built-in catalog.
func (c *Client) PutAsset(ctx context.Context, a domain.Asset) (api.AssetResponse, error) {
	var resp api.AssetResponse
	err := c.Do(ctx, "PUT", "/v1/assets/"+url.PathEscape(a.ID), "", a, &resp)
	return resp, err
}

// PutPartner stores a partner profile given as JSON or YAML bytes.
func (c *Client) PutPartner(ctx context.Context, id string, doc []byte, contentType string) (api.PartnerResponse, error) {
	var resp api.PartnerResponse
	err := c.Do(ctx, "PUT", "/v1/partners/"+url.PathEscape(id), contentType, doc, &resp)
	return resp, err
}

// Delivery returns one delivery.
func (c *Client) Delivery(ctx context.Context, id string) (domain.Delivery, error) {
	var d domain.Delivery
	err := c.Do(ctx, "GET", "/v1/deliveries/"+url.PathEscape(id), "", nil, &d)
	return d, err
}

// Deliveries lists deliveries; query may hold partner, asset, status, limit.
func (c *Client) Deliveries(ctx context.Context, query url.Values) ([]domain.Delivery, error) {
	var resp struct {
		Deliveries []domain.Delivery `json:"deliveries"`
	}
	err := c.Do(ctx, "GET", "/v1/deliveries?"+query.Encode(), "", nil, &resp)
	return resp.Deliveries, err
}

// Events returns a page of published events (CloudEvents JSON); query may
// hold after, limit, type and partner.
func (c *Client) Events(ctx context.Context, query url.Values) (api.EventsPage, error) {
	var page api.EventsPage
	err := c.Do(ctx, "GET", "/v1/events?"+query.Encode(), "", nil, &page)
	return page, err
}

// AddWebhook registers a webhook (or NATS) event sink.
func (c *Client) AddWebhook(ctx context.Context, req api.WebhookRequest) (store.Sink, error) {
	var k store.Sink
	err := c.Do(ctx, "POST", "/v1/webhooks", "", req, &k)
	return k, err
}

// Webhooks lists the event sinks.
func (c *Client) Webhooks(ctx context.Context) ([]store.Sink, error) {
	var resp struct {
		Webhooks []store.Sink `json:"webhooks"`
	}
	err := c.Do(ctx, "GET", "/v1/webhooks", "", nil, &resp)
	return resp.Webhooks, err
}

// RemoveWebhook deletes an event sink and its dead letters.
func (c *Client) RemoveWebhook(ctx context.Context, id string) error {
	return c.Do(ctx, "DELETE", "/v1/webhooks/"+url.PathEscape(id), "", nil, nil)
}

// TestWebhook has the server send a test event to the sink now.
func (c *Client) TestWebhook(ctx context.Context, id string) (event.TestResult, error) {
	var res event.TestResult
	err := c.Do(ctx, "POST", "/v1/webhooks/"+url.PathEscape(id)+"/test", "", nil, &res)
	return res, err
}

// ReplayWebhook queues the sink's dead letters to be sent again and
// returns how many.
func (c *Client) ReplayWebhook(ctx context.Context, id string) (int, error) {
	var resp struct {
		Replayed int `json:"replayed"`
	}
	err := c.Do(ctx, "POST", "/v1/webhooks/"+url.PathEscape(id)+"/replay", "", nil, &resp)
	return resp.Replayed, err
}

// DeadLetters lists the events a sink gave up on.
func (c *Client) DeadLetters(ctx context.Context, id string) ([]store.DeadLetter, error) {
	var resp struct {
		DeadLetters []store.DeadLetter `json:"dead_letters"`
	}
	err := c.Do(ctx, "GET", "/v1/webhooks/"+url.PathEscape(id)+"/dead-letters", "", nil, &resp)
	return resp.DeadLetters, err
}
