package feedback

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/internal/domain"
)

func TestReceiptSamples(t *testing.T) {
	cases := []struct {
		file, format string
		want         Report
	}{
		{"youtube_success.csv", "csv", Report{Status: domain.AckProcessed, Reference: "dQw4w9WgXcQ"}},
		{"youtube_failed.csv", "csv", Report{Status: domain.AckRejected, Reason: "Invalid aspect ratio: 4:3, expected 16:9"}},
		{"youtube_processing.csv", "csv", Report{Status: domain.AckReceived, Reference: "abc123"}},
		{"processed.json", "json", Report{Status: domain.AckProcessed, Reference: "TV2-2026-0042"}},
		{"rejected.json", "json", Report{Status: domain.AckRejected, Reason: "Synopsis exceeds 400 characters", Reference: "TV2-2026-0043"}},
	}
	for _, c := range cases {
		data, err := os.ReadFile(filepath.Join("testdata", c.file))
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseReceipt(c.format, data)
		if err != nil || got != c.want {
			t.Errorf("%s: got %+v, %v; want %+v", c.file, got, err, c.want)
		}
	}
}

func TestReceiptGarbage(t *testing.T) {
	for name, c := range map[string]struct{ format, data string }{
		"not json":          {"json", "<xml/>"},
		"unknown status":    {"json", `{"status":"mostly fine"}`},
		"reject no reason":  {"json", `{"status":"failed"}`},
		"csv no status col": {"csv", "video_id,errors\nx,\n"},
		"csv no rows":       {"csv", "status,errors\n"},
		"csv bad status":    {"csv", "status\nweird\n"},
		"csv broken quote":  {"csv", "status,errors\nFailed,\"unterminated\n"},
		"unknown format":    {"xml", "<x/>"},
	} {
		if _, err := ParseReceipt(c.format, []byte(c.data)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}

func FuzzParseReceipt(f *testing.F) {
	for _, s := range []string{"status\nSuccess\n", `{"status":"processed"}`, "video_id,status,errors\nx,Failed,bad\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		for _, format := range []string{"csv", "json"} {
			r, err := ParseReceipt(format, []byte(data))
			if err == nil && r.Validate() != nil {
				t.Fatalf("accepted an invalid report %+v", r)
			}
		}
	})
}

func TestSignature(t *testing.T) {
	secret := []byte("k")
	body := []byte(`{"status":"processed"}`)
	now := int64(1_800_000_000)
	sig := Sign(secret, now, body)
	at := func(s int64) time.Time { return time.Unix(s, 0) }
	if err := Verify(secret, "1800000000", sig, body, at(now)); err != nil {
		t.Fatalf("valid: %v", err)
	}
	for name, err := range map[string]error{
		"tampered":  Verify(secret, "1800000000", sig, []byte(`{"status":"rejected"}`), at(now)),
		"other key": Verify([]byte("x"), "1800000000", sig, body, at(now)),
		"too old":   Verify(secret, "1800000000", sig, body, at(now+301)),
		"future":    Verify(secret, "1800000000", sig, body, at(now-301)),
		"bad stamp": Verify(secret, "yesterday", sig, body, at(now)),
		"empty sig": Verify(secret, "1800000000", "", body, at(now)),
	} {
		if !errors.Is(err, ErrUnauthorized) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}
