package event_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/event"
	"github.com/syndicate-media/syndicate/internal/store"
)

var lifecycleTypes = []string{"syndicate.delivery.queued", "syndicate.delivery.packaging",
	"syndicate.delivery.transferring", "syndicate.delivery.delivered"}

// TestWebhookOrderFiltersSignature: every event reaches an unfiltered
// sink once, in publication order (so in order per delivery), as a signed
// CloudEvent; a filtered sink gets only what matches.
func TestWebhookOrderFiltersSignature(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		all, some := newReceiver(t), newReceiver(t)
		sinkAll := addSink(t, s, store.Sink{Target: all.srv.URL + "/hook?tenant=1"})
		sinkSome := addSink(t, s, store.Sink{Target: some.srv.URL, Types: []string{"syndicate.delivery.delivered"}, Partners: []string{"p1"}})
		dispatch(t, s)

		// Two deliveries whose changes interleave.
		insert(t, s, "d1", "p1")
		insert(t, s, "d2", "p2")
		for _, st := range []string{"packaging", "transferring", "delivered"} {
			move(t, s, "d1", domain.Status(st))
			move(t, s, "d2", domain.Status(st))
		}
		waitFor(t, "8 events at the unfiltered sink", func() bool { return len(all.taken()) >= 8 })
		got := all.taken()
		want := outbox(t, s)
		if len(got) != 8 || len(want) != 8 {
			t.Fatalf("receiver took %d events, outbox has %d; want 8 each", len(got), len(want))
		}
		perDelivery := map[string][]string{}
		for i, q := range got {
			e := q.Event
			if e.ID != want[i].ID || e.Sequence != strconv.FormatInt(want[i].PubSeq, 10) {
				t.Errorf("event %d = %s #%s, want %s #%d (publication order)", i, e.ID, e.Sequence, want[i].ID, want[i].PubSeq)
			}
			if e.SpecVersion != "1.0" || e.Source != "syndicate" || e.DataContentType != "application/json" ||
				e.Data.ID != e.Subject || e.PartnerID != e.Data.PartnerID || e.Time.IsZero() ||
				e.Type != "syndicate.delivery."+string(e.Data.Status) {
				t.Errorf("event %d is not the expected CloudEvent: %+v", i, e)
			}
			perDelivery[e.Subject] = append(perDelivery[e.Subject], e.Type)
		}
		for _, d := range []string{"d1", "d2"} {
			if !slices.Equal(perDelivery[d], lifecycleTypes) {
				t.Errorf("%s: %v, want %v", d, perDelivery[d], lifecycleTypes)
			}
		}

		// The filtered sink steps over what it does not want.
		waitFor(t, "the filtered sink's cursor at the head", func() bool { return getSink(t, s, sinkSome.ID).Cursor == 8 })
		if got := some.taken(); len(got) != 1 || got[0].Event.Subject != "d1" || got[0].Event.Type != "syndicate.delivery.delivered" {
			t.Fatalf("filtered sink got %+v, want only d1 delivered", got)
		}
		waitFor(t, "the unfiltered sink's cursor at the head", func() bool { return getSink(t, s, sinkAll.ID).Cursor == 8 })

		// A real request's signature verifies; tampering with any part fails.
		q := got[0]
		now := time.Now()
		sec, _ := strconv.ParseInt(q.Timestamp, 10, 64)
		later := strconv.FormatInt(sec+1, 10)
		if err := event.VerifySignature([]byte(secretValue), q.Timestamp, string(q.Body), q.Signature, now, time.Minute); err != nil {
			t.Fatalf("genuine request: %v", err)
		}
		// The documented scheme, computed here without the package's help.
		mac := hmac.New(sha256.New, []byte(secretValue))
		mac.Write([]byte(q.Timestamp + "." + string(q.Body)))
		if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); q.Signature != want {
			t.Fatalf("Syndicate-Signature = %q, want %q", q.Signature, want)
		}
		tampered := strings.Replace(string(q.Body), `"d1"`, `"d9"`, 1)
		for name, err := range map[string]error{
			"tampered body": event.VerifySignature([]byte(secretValue), q.Timestamp, tampered, q.Signature, now, time.Minute),
			"other secret":  event.VerifySignature([]byte("not-the-secret"), q.Timestamp, string(q.Body), q.Signature, now, time.Minute),
			"other time":    event.VerifySignature([]byte(secretValue), later, string(q.Body), q.Signature, now, time.Minute),
			"stale":         event.VerifySignature([]byte(secretValue), q.Timestamp, string(q.Body), q.Signature, now.Add(time.Hour), time.Minute),
			"no sha256=":    event.VerifySignature([]byte(secretValue), q.Timestamp, string(q.Body), strings.TrimPrefix(q.Signature, "sha256="), now, time.Minute),
			"empty":         event.VerifySignature([]byte(secretValue), q.Timestamp, string(q.Body), "", now, time.Minute),
			"bad timestamp": event.VerifySignature([]byte(secretValue), "yesterday", string(q.Body), q.Signature, now, time.Minute),
		} {
			if err == nil {
				t.Errorf("%s: verified", name)
			}
		}
		if err := event.VerifySignature([]byte(secretValue), q.Timestamp, tampered, q.Signature, now, time.Minute); !errors.Is(err, event.ErrBadSignature) {
			t.Errorf("tampered body: %v, want ErrBadSignature", err)
		}
	})
}

// TestReceiverDownThenUp: while the receiver answers 503 the sink retries
// the same (first) event with backoff and records its failures; once it is
// up, every event arrives, in order, and the failure state clears.
func TestReceiverDownThenUp(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		r := newReceiver(t)
		r.setStatus(func(ce) int { return 503 })
		k := addSink(t, s, store.Sink{Target: r.srv.URL, MaxAttempts: 1000})
		dispatch(t, s)
		lifecycle(t, s, "d1", "p1")

		waitFor(t, "3 recorded failures", func() bool {
			k := getSink(t, s, k.ID)
			return k.Attempts >= 3 && k.NextAttemptAt != nil && strings.Contains(k.LastError, "503")
		})
		first := outbox(t, s)[0]
		for _, q := range r.requests() {
			if q.Event.ID != first.ID {
				t.Fatalf("while down, the sink sent %s (%s); it must keep retrying the first event %s", q.Event.ID, q.Event.Type, first.ID)
			}
		}
		if k := getSink(t, s, k.ID); k.Cursor != 0 {
			t.Fatalf("cursor moved to %d while the receiver was down", k.Cursor)
		}

		r.setStatus(func(ce) int { return 200 })
		lifecycle(t, s, "d2", "p2")
		waitFor(t, "all 8 events", func() bool { return len(distinct(r.taken())) >= 8 })
		got, want := distinct(r.taken()), outbox(t, s)
		if len(got) != len(want) {
			t.Fatalf("took %d events, outbox has %d", len(got), len(want))
		}
		for i := range want {
			if got[i].Event.ID != want[i].ID {
				t.Fatalf("event %d = %s (%s), want %s (%s)", i, got[i].Event.ID, got[i].Event.Type, want[i].ID, want[i].Type)
			}
		}
		waitFor(t, "failure state cleared", func() bool {
			k := getSink(t, s, k.ID)
			return k.Cursor == 8 && k.Attempts == 0 && k.LastError == "" && k.NextAttemptAt == nil
		})
	})
}

// TestDeadLetterAndReplay: an event the receiver refuses max_attempts
// times becomes a dead letter and the sink moves on; a replay that fails
// puts it back; a replay once the receiver takes it delivers it.
func TestDeadLetterAndReplay(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		r := newReceiver(t)
		refuse := func(e ce) int {
			if e.Subject == "poison" {
				return 500
			}
			return 200
		}
		r.setStatus(refuse)
		k := addSink(t, s, store.Sink{Target: r.srv.URL, MaxAttempts: 2})
		dispatch(t, s)
		insert(t, s, "poison", "p1")
		insert(t, s, "good", "p1")

		waitFor(t, "the good event", func() bool { return len(r.taken()) == 1 })
		poison := outbox(t, s)[0]
		dls, err := s.ListDeadLetters(ctx, k.ID)
		if err != nil || len(dls) != 1 || dls[0].EventID != poison.ID || dls[0].PubSeq != 1 || !strings.Contains(dls[0].Error, "500") {
			t.Fatalf("dead letters = %+v, %v; want the poison event with its error", dls, err)
		}
		if n := countRequests(r, poison.ID); n != 2 {
			t.Fatalf("poison event sent %d times, want max_attempts = 2", n)
		}

		// Replayed while the receiver still refuses: back among the dead.
		if n, err := s.ReplayDeadLetters(ctx, k.ID); err != nil || n != 1 {
			t.Fatalf("replay = %d, %v", n, err)
		}
		waitFor(t, "the failed replay to be recorded", func() bool {
			dls, _ := s.ListDeadLetters(ctx, k.ID)
			return countRequests(r, poison.ID) == 4 && len(dls) == 1 && dls[0].ReplayedAt == nil
		})

		r.setStatus(func(ce) int { return 200 })
		if n, err := s.ReplayDeadLetters(ctx, k.ID); err != nil || n != 1 {
			t.Fatalf("replay = %d, %v", n, err)
		}
		waitFor(t, "the replayed event", func() bool {
			dls, _ := s.ListDeadLetters(ctx, k.ID)
			return len(dls) == 0
		})
		taken := r.taken()
		if len(taken) != 2 || taken[1].Event.ID != poison.ID {
			t.Fatalf("taken = %+v, want good then the replayed poison event", taken)
		}
		if n, _ := s.ReplayDeadLetters(ctx, k.ID); n != 0 {
			t.Fatalf("second replay queued %d", n)
		}
		if _, err := s.ReplayDeadLetters(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("replay of a missing sink: %v", err)
		}
	})
}

func countRequests(r *receiver, id string) int {
	n := 0
	for _, q := range r.requests() {
		if q.Event.ID == id {
			n++
		}
	}
	return n
}

// TestSendTest: the test event reports the receiver's answer.
func TestSendTest(t *testing.T) {
	r := newReceiver(t)
	k := store.Sink{ID: "s1", Kind: store.SinkWebhook, Target: r.srv.URL, SecretRef: "env:" + secretEnv}
	res := event.SendTest(context.Background(), k, time.Now())
	if !res.OK || res.Status != 200 || len(r.taken()) != 1 || r.taken()[0].Event.Type != event.TestType {
		t.Fatalf("test event: %+v, receiver got %+v", res, r.requests())
	}
	r.setStatus(func(ce) int { return 503 })
	if res := event.SendTest(context.Background(), k, time.Now()); res.OK || res.Status != 503 || !strings.Contains(res.Error, "503") {
		t.Fatalf("test event to a 503 receiver: %+v", res)
	}
	k.SecretRef = "env:SYNDICATE_TEST_UNSET_SECRET"
	if res := event.SendTest(context.Background(), k, time.Now()); res.OK || !strings.Contains(res.Error, "SYNDICATE_TEST_UNSET_SECRET") {
		t.Fatalf("test event without its secret: %+v", res)
	}
}
