package api_test

import (
	"testing"

	"github.com/syndicate-media/syndicate/internal/store/storetest"
)

// TestDeliveryShowsVerification: GET /v1/deliveries/{id} of a delivered
// delivery lists each file at the partner with how it was verified.
func TestDeliveryShowsVerification(t *testing.T) {
	f := start(t, storetest.SQLite(t))
	ids := f.delivered(t, "")
	d := f.waitDelivered(t, ids["acme"])
	files, _ := d["verified_files"].([]any)
	seen := map[string]any{}
	for _, x := range files {
		m := x.(map[string]any)
		seen[m["name"].(string)] = m["verified"]
		if m["sha256"] == "" || m["size"] == nil {
			t.Fatalf("file without sha256 or size: %v", m)
		}
	}
	if seen["main.mp4"] != "size" || seen["manifest.json"] != "size" {
		t.Fatalf("verified_files = %v, want main.mp4 and manifest.json verified by size", files)
	}
}
