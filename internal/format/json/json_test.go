package json_test

import (
	"testing"

	"github.com/syndicate-media/syndicate/internal/format"
	"github.com/syndicate-media/syndicate/internal/format/formattest"
	_ "github.com/syndicate-media/syndicate/internal/format/json"
)

func TestConformance(t *testing.T) { formattest.Run(t, "json", formattest.Features{}) }

func TestUnknownFormat(t *testing.T) {
	if _, err := format.Get("adi99"); err == nil {
		t.Fatal("unknown format accepted")
	}
}
