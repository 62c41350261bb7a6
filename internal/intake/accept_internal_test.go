package intake

import (
	"errors"
	"log/slog"
	"testing"

	"github.com/syndicate-media/syndicate/internal/store"
	"github.com/syndicate-media/syndicate/internal/store/storetest"
)

// TestDuplicateInBatchOfStoredKey: a batch holding a key already stored by
// an earlier batch, first with a different request and then with the
// stored one, refuses the first (key reused) and replays the second. Each
// is judged against the stored row, not against the entry before it: the
// old code refused the second too, whenever the collector cut the batches
// so (TestBatch failed now and then under load).
func TestDuplicateInBatchOfStoredKey(t *testing.T) {
	st := storetest.Open(t, storetest.SQLite(t))
	s := &Service{Store: st, Log: slog.New(slog.DiscardHandler)}
	newJob := func(id, hash string) *job {
		return &job{n: newNote("x-1", id, hash), done: make(chan struct{})}
	}
	first := newJob("n-1", "same")
	s.commit([]*job{first})
	if r, err := s.answer(first); err != nil || r.Replayed {
		t.Fatalf("first: %+v %v", r, err)
	}
	other, again := newJob("n-2", "other"), newJob("n-3", "same")
	s.commit([]*job{other, again})
	var ie *Error
	if _, err := s.answer(other); !errors.As(err, &ie) || ie.Code != CodeKeyReused {
		t.Errorf("different request with the stored key: %v, want %s", err, CodeKeyReused)
	}
	if r, err := s.answer(again); err != nil || !r.Replayed || r.NotificationID != "n-1" {
		t.Errorf("the stored request again: %+v %v, want a replay of n-1", r, err)
	}
}

func newNote(key, id, hash string) store.NewNotification {
	return store.NewNotification{Key: key, ID: id, RequestHash: hash, Request: []byte(`{"asset_id":"ep-1","partners":["acme"]}`)}
}
