package cli

import (
	"strings"
	"testing"

	"github.com/syndicate-media/syndicate/internal/domain"
)

func TestProgressLine(t *testing.T) {
	d := domain.Delivery{ID: "d1", PartnerID: "acme", Status: domain.StatusTransferring, Bytes: 50e6, TotalBytes: 200e6, Rate: 25e6}
	line := progressLine(d)
	for _, want := range []string{"[######..................]", " 25%", "25.0 MB/s", "ETA 6s"} {
		if !strings.Contains(line, want) {
			t.Errorf("%q lacks %q", line, want)
		}
	}
	done := progressLine(domain.Delivery{ID: "d2", Status: domain.StatusDelivered})
	if !strings.Contains(done, "100%") || strings.Contains(done, "ETA") {
		t.Errorf("delivered: %q", done)
	}
	if eta := (domain.Delivery{Status: domain.StatusTransferring, Bytes: 10, TotalBytes: 10, Rate: 5}).ETA(); eta != 0 {
		t.Errorf("ETA of a finished transfer = %v", eta)
	}
}
