package server_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/client"
	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/feedback"
)

// waitGoodAndWrong waits until the "good" partner's delivery is delivered
// and the "wrong" one (a refused login) failed.
func waitGoodAndWrong(t *testing.T, c *client.Client, ids map[string]string) {
	t.Helper()
	ctx := context.Background()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		g, _ := c.Delivery(ctx, ids["good"])
		w, _ := c.Delivery(ctx, ids["wrong"])
		if g.Status == domain.StatusDelivered && w.Status == domain.StatusFailed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries: good %+v, wrong %+v", g, w)
		}
	}
}

// signedFeedback has partner "good" report processed on a delivery with a
// new key of its own and a request signed with secret; it returns the key.
func signedFeedback(t *testing.T, c *client.Client, deliveryID string, secret []byte) string {
	t.Helper()
	ctx := context.Background()
	var key struct{ Key string }
	if err := c.Do(ctx, "POST", "/v1/partners/good/keys", "", nil, &key); err != nil {
		t.Fatal(err)
	}
	fb, _ := json.Marshal(feedback.Report{Status: domain.AckProcessed})
	ts := time.Now().Unix()
	headers := map[string]string{"Syndicate-Timestamp": strconv.FormatInt(ts, 10), "Syndicate-Signature": feedback.Sign(secret, ts, fb)}
	if err := client.New(c.BaseURL, key.Key).DoHeaders(ctx, "POST", "/v1/partner/deliveries/"+deliveryID+"/feedback", headers, fb, nil); err != nil {
		t.Fatal(err)
	}
	return key.Key
}
