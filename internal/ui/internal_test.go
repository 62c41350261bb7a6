package ui

import (
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/store"
)

func TestSessionsExpire(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ss := newSessions(func() time.Time { return now })
	s := ss.create("hash")
	if s.id == s.csrf || len(s.id) != 64 || len(s.csrf) != 64 {
		t.Fatalf("session id and CSRF token must be distinct 256-bit values: %+v", s)
	}
	now = now.Add(SessionTTL - time.Second)
	if ss.get(s.id) != s {
		t.Fatal("the session ended early")
	}
	now = now.Add(2 * time.Second)
	if ss.get(s.id) != nil {
		t.Fatal("the session outlived its TTL")
	}
	if ss.get("") != nil || ss.get("nope") != nil {
		t.Fatal("an unknown id found a session")
	}
	// Creating a session forgets the expired ones.
	old := ss.create("hash")
	now = now.Add(SessionTTL + time.Second)
	ss.create("hash")
	if _, ok := ss.byID[old.id]; ok {
		t.Fatal("an expired session was kept")
	}
}

func TestLoginCSRF(t *testing.T) {
	ss := newSessions(time.Now)
	a := ss.loginCSRF("nonce-a")
	if !sameSecret(a, ss.loginCSRF("nonce-a")) || sameSecret(a, ss.loginCSRF("nonce-b")) || sameSecret("", "") {
		t.Fatal("the sign-in CSRF token must depend on the nonce, and an empty one never matches")
	}
	if sameSecret(a, newSessions(time.Now).loginCSRF("nonce-a")) {
		t.Fatal("the sign-in CSRF token must depend on the server's key")
	}
}

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"": "/", "/": "/", "/deliveries?status=failed": "/deliveries?status=failed", "//evil.example": "/",
		"/\\evil.example": "/", "https://evil.example/": "/", "evil": "/", "/login": "/", "/x\r\nSet-Cookie: a=b": "/",
		// Browsers drop tabs and newlines from a URL and read \ as /: each
		// of these would leave for evil.example.
		"/\t/evil.example": "/", "/\n/evil.example": "/", "/\x00/evil.example": "/", "/a\\..\\\\evil.example": "/",
		"/%09/evil.example": "/%09/evil.example", "/deliveries/x#frag": "/deliveries/x#frag",
	} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestThroughput(t *testing.T) {
	end := time.Date(2026, 1, 2, 4, 0, 0, 0, time.UTC)
	bars, total := throughput([]store.Finished{
		{At: end.Add(-61 * time.Minute), Bytes: 999}, // before the hour
		{At: end.Add(-60 * time.Minute), Bytes: 100}, // first bucket
		{At: end.Add(-56 * time.Minute), Bytes: 100},
		{At: end.Add(-1 * time.Second), Bytes: 1000}, // last bucket
		{At: end, Bytes: 7},                          // after
	}, end)
	if len(bars) != 12 || total != 1200 {
		t.Fatalf("%d bars, %d bytes", len(bars), total)
	}
	if bars[0].Bytes != 200 || bars[0].Label != "03:00" || bars[11].Bytes != 1000 || bars[11].Label != "03:55" {
		t.Fatalf("buckets: first %+v, last %+v", bars[0], bars[11])
	}
	if bars[11].H != 130 || bars[0].H != 26 || bars[5].H != 0 || bars[11].Y+bars[11].H != 150 {
		t.Fatalf("bar heights: %+v %+v %+v", bars[0], bars[5], bars[11])
	}
}

func TestFailingPartners(t *testing.T) {
	got := failingPartners([]domain.Delivery{
		{ID: "3", PartnerID: "a", LastError: "newest a"},
		{ID: "2", PartnerID: "b", LastError: "only b"},
		{ID: "1", PartnerID: "a", LastError: "older a"},
	})
	if len(got) != 2 || got[0].PartnerID != "a" || got[0].Failed != 2 || got[0].LatestError != "newest a" || got[0].LatestID != "3" ||
		got[1].PartnerID != "b" || got[1].Failed != 1 {
		t.Fatalf("%+v", got)
	}
}

func TestHumanFigures(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1536: "1.5 KiB", 5 << 20: "5.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
	d := domain.Delivery{Status: domain.StatusTransferring, Bytes: 25, TotalBytes: 100, Rate: 25}
	if percent(d) != 25 || eta(d) != "3s" {
		t.Errorf("percent %d, eta %q", percent(d), eta(d))
	}
}
