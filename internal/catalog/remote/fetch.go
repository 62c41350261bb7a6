package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// response is one answer that is not retried.
type response struct {
	status int
	header http.Header
	body   []byte
}

// retryable is an attempt worth repeating; after is the server's
// Retry-After, if it sent one.
type retryable struct {
	err   error
	after time.Duration
}

func (r *retryable) Error() string { return r.err.Error() }
func (r *retryable) Unwrap() error { return r.err }

// fetch sends the request until an answer that is not retried, at most
// MaxAttempts times, each attempt waiting for the rate limiter.
func (c *Catalog) fetch(ctx context.Context, id, etag string) (*response, error) {
	for attempt := 1; ; attempt++ {
		if err := c.limiter.Wait(ctx); err != nil {
			return nil, fmt.Errorf("waiting for the rate limit (requests_per_second %g): %w", c.cfg.RequestsPerSecond, err)
		}
		res, err := c.once(ctx, id, etag)
		var again *retryable
		if !errors.As(err, &again) {
			return res, err
		}
		if attempt >= c.cfg.MaxAttempts {
			return nil, fmt.Errorf("gave up after %s, the last: %w", plural(attempt, "attempt"), again.err)
		}
		wait := backoff(c.cfg.BaseInterval, c.cfg.MaxInterval, attempt)
		if again.after > c.cfg.MaxInterval {
			return nil, fmt.Errorf("%w, and asks to retry after %s (more than max_interval %s)", again.err, again.after, c.cfg.MaxInterval)
		}
		wait = max(wait, again.after)
		if err := sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("%w; stopped waiting to retry: %w", again.err, err)
		}
	}
}

// once sends one attempt under the per-request timeout.
func (c *Catalog) once(ctx context.Context, id, etag string) (*response, error) {
	actx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := c.proto.NewRequest(actx, id)
	if err != nil {
		return nil, err
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, c.networkError(ctx, actx, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBytes+1))
	if err != nil {
		return nil, c.networkError(ctx, actx, fmt.Errorf("reading the answer (status %s): %w", resp.Status, err))
	}
	if int64(len(body)) > c.maxBytes {
		return nil, fmt.Errorf("the answer is larger than %d MiB", c.maxBytes>>20)
	}
	switch s := resp.StatusCode; {
	case s == http.StatusTooManyRequests, s == http.StatusRequestTimeout, s >= 500:
		return nil, &retryable{err: fmt.Errorf("status %s", resp.Status), after: retryAfter(resp.Header.Get("Retry-After"), time.Now())}
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

// networkError says what went wrong without the URL (its query may hold a
// token) and marks it retryable unless the caller gave up.
func (c *Catalog) networkError(parent, attempt context.Context, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	switch {
	case parent.Err() != nil:
		return fmt.Errorf("%w (%v)", parent.Err(), err)
	case errors.Is(attempt.Err(), context.DeadlineExceeded):
		return &retryable{err: fmt.Errorf("no answer within the timeout (%s)", c.cfg.Timeout)}
	}
	if errors.Is(err, errRedirect) {
		return err
	}
	return &retryable{err: err}
}

var errRedirect = errors.New("redirect refused")

// backoff is base doubled for each attempt after the first, at most max,
// with jitter: a random wait in [d/2, d).
func backoff(base, limit time.Duration, attempt int) time.Duration {
	d := base
	for i := 1; i < attempt && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2)
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(h); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
