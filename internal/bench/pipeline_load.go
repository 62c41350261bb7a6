package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// batchSenders is how many batch requests are in flight at once: a
// catalog system pushing its changes from a few connections.
const batchSenders = 4

// pipeLoad sends the run's notifications and records every answer.
type pipeLoad struct {
	cfg    PipelineConfig
	urls   []string
	auth   string
	prefix string
	client *http.Client
	next   atomic.Uint64 // spreads requests over urls; numbers single keys

	mu        sync.Mutex
	notified  []int // assets whose batch entry was acknowledged
	acked     map[string]string
	latencies []time.Duration
	maxWait   time.Duration
	requests  int
	errors    int
	firstErr  error
}

type pipeStats struct {
	acked     map[string]string // idempotency key → notification id
	latencies []time.Duration
	maxWait   time.Duration
	requests  int
	errors    int
	firstErr  error
}

func newPipeLoad(cfg PipelineConfig, urls []string, token, prefix string) *pipeLoad {
	conns := cfg.Clients + batchSenders
	tr := &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns,
		DisableCompression: true, DialContext: (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext}
	return &pipeLoad{cfg: cfg, urls: urls, auth: "Bearer " + token, prefix: prefix, acked: map[string]string{},
		client: &http.Client{Transport: tr, Timeout: 5 * time.Minute}}
}

func (l *pipeLoad) stats() pipeStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return pipeStats{acked: l.acked, latencies: l.latencies, maxWait: l.maxWait, requests: l.requests,
		errors: l.errors, firstErr: l.firstErr}
}

// post sends one request and returns the status and body; it records the
// time the request waited for its answer, whatever the answer.
func (l *pipeLoad) post(ctx context.Context, path string, body []byte) (int, []byte, error) {
	u := l.urls[int(l.next.Add(1))%len(l.urls)]
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header["Authorization"] = []string{l.auth}
	req.Header["Content-Type"] = []string{"application/json"}
	t0 := time.Now()
	resp, err := l.client.Do(req)
	var b []byte
	if err == nil {
		b, err = readAll(resp.Body, make([]byte, 0, 512))
		resp.Body.Close()
	}
	took := time.Since(t0)
	if ctx.Err() != nil {
		return 0, nil, ctx.Err() // the run ended: not an answer
	}
	l.mu.Lock()
	l.requests++
	l.latencies = append(l.latencies, took)
	l.maxWait = max(l.maxWait, took)
	if err != nil {
		l.errors++
		if l.firstErr == nil {
			l.firstErr = err
		}
	}
	l.mu.Unlock()
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, b, nil
}

// batches notifies every asset once, Batch assets a request, each entry
// naming every partner. An entry not acknowledged (a refusal, or no
// answer because the server was killed) is sent again with its key.
func (l *pipeLoad) batches(ctx context.Context) error {
	work := make(chan []int)
	go func() {
		defer close(work)
		for first := 0; first < l.cfg.Assets; first += l.cfg.Batch {
			ids := make([]int, 0, l.cfg.Batch)
			for i := first; i < min(first+l.cfg.Batch, l.cfg.Assets); i++ {
				ids = append(ids, i)
			}
			select {
			case work <- ids:
			case <-ctx.Done():
				return
			}
		}
	}()
	partners := make([]string, l.cfg.Partners)
	for i := range partners {
		partners[i] = partnerID(i)
	}
	var wg sync.WaitGroup
	errs := make(chan error, batchSenders)
	for range batchSenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ids := range work {
				if err := l.sendBatch(ctx, ids, partners); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

type entry struct {
	AssetID        string   `json:"asset_id"`
	Partners       []string `json:"partners"`
	IdempotencyKey string   `json:"idempotency_key"`
}

type answer struct {
	NotificationID string `json:"notification_id"`
	IdempotencyKey string `json:"idempotency_key"`
	Status         string `json:"status"`
	Error          *struct {
		Code string `json:"code"`
	} `json:"error"`
}

func (l *pipeLoad) sendBatch(ctx context.Context, ids []int, partners []string) error {
	for attempt := 0; len(ids) > 0; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
		var req struct {
			Notifications []entry `json:"notifications"`
		}
		for _, i := range ids {
			req.Notifications = append(req.Notifications, entry{AssetID: assetID(i), Partners: partners,
				IdempotencyKey: l.prefix + "b" + strconv.Itoa(i)})
		}
		body, _ := json.Marshal(req)
		status, b, err := l.post(ctx, "/v1/notifications:batch", body)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			continue // no answer (counted in post): the same keys again
		}
		if status == http.StatusTooManyRequests || status >= 500 {
			l.refusal(fmt.Errorf("batch: %d %s", status, b))
			continue // a passing refusal: the same keys again
		}
		if status != http.StatusAccepted && status != http.StatusOK {
			return fmt.Errorf("batch: %d %s", status, b)
		}
		var resp struct {
			Results []struct {
				Index int `json:"index"`
				answer
			} `json:"results"`
		}
		if err := json.Unmarshal(b, &resp); err != nil {
			return fmt.Errorf("batch answer: %w", err)
		}
		var again []int
		done := make([]bool, len(ids))
		l.mu.Lock()
		for _, r := range resp.Results {
			if r.Index >= 0 && r.Index < len(ids) && r.Error == nil && r.NotificationID != "" {
				done[r.Index] = true
				l.acked[r.IdempotencyKey] = r.NotificationID
				l.notified = append(l.notified, ids[r.Index])
			}
		}
		l.mu.Unlock()
		for k, ok := range done {
			if !ok {
				again = append(again, ids[k])
			}
		}
		ids = again
	}
	return nil
}

// singles sends single notifications, one partner each, for assets whose
// batch entry was acknowledged (so they decide noop, or update if that
// delivery is not decided yet), until ctx ends.
func (l *pipeLoad) singles(ctx context.Context, c int) {
	r := rand.New(rand.NewPCG(uint64(c), uint64(time.Now().UnixNano())))
	for ctx.Err() == nil {
		l.mu.Lock()
		n := len(l.notified)
		var a int
		if n > 0 {
			a = l.notified[r.IntN(n)]
		}
		l.mu.Unlock()
		if n == 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(5 * time.Millisecond):
			}
			continue
		}
		key := l.prefix + "s" + strconv.FormatUint(l.next.Add(1), 10)
		body, _ := json.Marshal(entry{AssetID: assetID(a), Partners: []string{partnerID(r.IntN(l.cfg.Partners))}, IdempotencyKey: key})
		status, b, err := l.post(ctx, "/v1/notifications", body)
		if err != nil {
			if ctx.Err() == nil {
				time.Sleep(50 * time.Millisecond) // the server is gone for a moment (a kill)
			}
			continue
		}
		if status != http.StatusAccepted {
			l.refusal(fmt.Errorf("single: %d %s", status, b))
			continue
		}
		var ans answer
		if json.Unmarshal(b, &ans) == nil && ans.NotificationID != "" {
			l.mu.Lock()
			l.acked[key] = ans.NotificationID
			l.mu.Unlock()
		}
	}
}

func (l *pipeLoad) refusal(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errors++
	if l.firstErr == nil {
		l.firstErr = err
	}
}
