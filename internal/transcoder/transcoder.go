// Package transcoder talks to an external transcoding service (the
// "other team" of the reference system): Submit POSTs a job carrying the
// source, the partner's video profile, where to write the output, and a
// callback URL with an unguessable single-use token; the service answers
// later with POST /v1/callbacks/{token} (heartbeats, then succeeded or
// failed). Only the token's hash is stored; the workflow waiting for the
// answer is woken through the engine (see internal/workflow and the
// callback handler in internal/api).
package transcoder

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/secret"
)

// Job is what the service receives.
type Job struct {
	ID          string           `json:"id"`
	Source      Source           `json:"source"`
	Profile     domain.VideoSpec `json:"profile"`
	OutputURI   string           `json:"output_uri"`
	CallbackURL string           `json:"callback_url"`
	// HeartbeatInterval is how often the service should send a heartbeat
	// while it works; silence for the profile's heartbeat timeout fails it.
	HeartbeatInterval domain.Duration `json:"heartbeat_interval"`
	Deadline          time.Time       `json:"deadline"`
}

// Source is the rendition to transcode.
type Source struct {
	Role string `json:"role"`
	URI  string `json:"uri"`
}

// Callback statuses.
const (
	StatusHeartbeat = "heartbeat"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
)

// Callback is the body of POST /v1/callbacks/{token}, and the message the
// handler passes to the waiting workflow (with At set by the receiver).
type Callback struct {
	Status   string   `json:"status"`
	Progress float64  `json:"progress,omitempty"` // 0..1
	Outputs  []Output `json:"outputs,omitempty"`
	Error    string   `json:"error,omitempty"`
	// At is when Syndicate received the callback (not the sender's clock).
	At time.Time `json:"at,omitzero"`
}

// Output is one file the service wrote.
type Output struct {
	URI    string `json:"uri"`
	Size   int64  `json:"size,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
}

// Final reports whether the callback ends the job.
func (c Callback) Final() bool { return c.Status == StatusSucceeded || c.Status == StatusFailed }

// Validate checks a callback body.
func (c Callback) Validate() error {
	switch c.Status {
	case StatusHeartbeat:
	case StatusSucceeded:
		if len(c.Outputs) != 1 {
			return fmt.Errorf("outputs: want exactly one output for a video job, got %d", len(c.Outputs))
		}
		if c.Outputs[0].URI == "" {
			return errors.New("outputs[0].uri: required")
		}
	case StatusFailed:
		if strings.TrimSpace(c.Error) == "" {
			return errors.New("error: required when status is failed")
		}
	default:
		return fmt.Errorf("status: %q is not heartbeat, succeeded or failed", c.Status)
	}
	if c.Progress < 0 || c.Progress > 1 {
		return errors.New("progress: must be between 0 and 1")
	}
	if len(c.Error) > 4096 {
		return errors.New("error: at most 4096 bytes")
	}
	return nil
}

// NewToken returns a fresh callback token (256 random bits) and its hash.
func NewToken() (token, hash string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, secret.HashToken(token)
}

// ValidToken reports whether s has a token's shape (cheap check before a
// database read).
func ValidToken(s string) bool {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil && len(b) == 32
}

// The refusals of a callback: an unknown (forged) token, a token whose
// job already answered (duplicate), or one past its deadline or whose
// wait ended (late).
var (
	ErrCallbackUnknown = errors.New("unknown callback token")
	ErrCallbackUsed    = errors.New("this job already sent its final callback")
	ErrCallbackExpired = errors.New("callback too late: the job's wait has ended")
)

// ErrRejected marks a job the service refused (4xx): retrying the same job
// will not help.
var ErrRejected = errors.New("transcoder rejected the job")

// Client submits jobs.
type Client struct {
	// URL is the service's job endpoint.
	URL string
	// HTTP defaults to a client with a 30 s timeout.
	HTTP *http.Client
	// Header is added to every request (e.g. a traceparent).
	Header http.Header
}

// Submit POSTs job. A 2xx is accepted; 409 means the service already has
// this job id (a resubmission after a crash), also accepted.
func (c *Client) Submit(ctx context.Context, job Job) error {
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: transcoder URL %q is not an http(s) URL", ErrRejected, c.URL)
	}
	body, err := json.Marshal(job)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range c.Header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("transcoder: submit job %s: %w", job.ID, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	switch {
	case resp.StatusCode/100 == 2 || resp.StatusCode == http.StatusConflict:
		return nil
	case resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusTooManyRequests:
		return fmt.Errorf("%w: job %s: %s: %s", ErrRejected, job.ID, resp.Status, strings.TrimSpace(string(msg)))
	default:
		return fmt.Errorf("transcoder: submit job %s: %s: %s", job.ID, resp.Status, strings.TrimSpace(string(msg)))
	}
}
