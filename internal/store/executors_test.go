package store_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/internal/store"
)

func TestTakeOverDead(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		base := time.Now().UTC()
		at := func(d time.Duration) { s.Now = func() time.Time { return base.Add(d) } }
		at(0)
		for _, id := range []string{"w1", "w2"} {
			if err := s.Heartbeat(ctx, id, "all", base); err != nil {
				t.Fatal(err)
			}
		}
		s.Heartbeat(ctx, "api1", "api", base)
		at(10 * time.Second)
		s.Heartbeat(ctx, "w2", "all", base) // w2 lives on; w1 and api1 fall silent
		var got []string
		dead, err := s.TakeOverDead(ctx, "w2", base.Add(5*time.Second), func(ids []string) error { got = ids; return nil })
		if err != nil || !reflect.DeepEqual(dead, []string{"w1"}) || !reflect.DeepEqual(got, []string{"w1"}) {
			t.Fatalf("dead = %v, recovered %v, %v; want [w1]", dead, got, err)
		}
		// Taken over once only.
		if dead, _ := s.TakeOverDead(ctx, "w2", base.Add(5*time.Second), func([]string) error { return nil }); len(dead) != 0 {
			t.Fatalf("taken over twice: %v", dead)
		}
		// Back from the dead: owns nothing, can die again.
		s.Heartbeat(ctx, "w1", "all", base)
		at(30 * time.Second)
		s.Heartbeat(ctx, "w2", "all", base)
		if dead, _ := s.TakeOverDead(ctx, "w2", base.Add(25*time.Second), func([]string) error { return nil }); !reflect.DeepEqual(dead, []string{"w1"}) {
			t.Fatalf("second death: %v", dead)
		}
	})
}
