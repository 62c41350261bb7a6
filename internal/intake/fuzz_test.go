package intake_test

import (
	"errors"
	"testing"

	"github.com/syndicate-media/syndicate/internal/intake"
)

var codes = map[string]bool{intake.CodeMalformed: true, intake.CodeInvalid: true}

// checkRefusal fails unless err is an *intake.Error with a parse code and
// a message.
func checkRefusal(t *testing.T, err error) {
	t.Helper()
	var ie *intake.Error
	if !errors.As(err, &ie) || !codes[ie.Code] || ie.Message == "" {
		t.Fatalf("refusal %#v is not a typed error with a parse code and a message", err)
	}
}

func checkValid(t *testing.T, r intake.Request) {
	t.Helper()
	if r.AssetID == "" || (!r.Partners.All && len(r.Partners.IDs) == 0) || len(r.IdempotencyKey) > 200 ||
		(r.Priority != nil && (*r.Priority < 0 || *r.Priority > 1000)) {
		t.Fatalf("accepted an invalid request: %+v", r)
	}
}

var seeds = []string{
	`{"asset_id":"ep-1","partners":"all"}`,
	`{"asset_id":"ep-1","partners":["acme","b"],"idempotency_key":"k","priority":0}`,
	`{"asset_id":"ep-1","partners":"some"}`,
	`{"asset_id":7}`,
	`{"asset_id":"ep-1","partners":[]}`,
	`{"asset_id":"ep-1","partners":"all"} {}`,
	`{"asset_id":"ep-1","partners":"all"}]`,
	`{"asset_id":"../x","partners":[null]}`,
	``, `null`, `[]`, `"x"`,
}

// FuzzNotification: parsing and validating a notification never panics,
// and every refusal is a typed error with a code.
func FuzzNotification(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := intake.ParseNotification(body)
		if err != nil {
			checkRefusal(t, err)
			return
		}
		checkValid(t, r)
	})
}

// FuzzBatch: the same for a batch and each of its entries.
func FuzzBatch(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(`{"notifications":[` + s + `]}`))
	}
	f.Add([]byte(`{"notifications":[]}`))
	f.Add([]byte(`{"notifications":null}`))
	f.Add([]byte(`{"notifications":[{"asset_id":"a","partners":"all"},{"asset_id":1}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		items, err := intake.ParseBatch(body)
		if err != nil {
			checkRefusal(t, err)
			return
		}
		if len(items) == 0 || len(items) > intake.MaxBatch {
			t.Fatalf("%d entries accepted", len(items))
		}
		for _, it := range items {
			if it.Err != nil {
				checkRefusal(t, it.Err)
				continue
			}
			checkValid(t, it.Request)
		}
	})
}
