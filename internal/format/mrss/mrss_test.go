package mrss_test

import (
	"testing"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/format/formattest"
	_ "github.com/syndicate-media/syndicate/internal/format/mrss"
)

func TestConformance(t *testing.T) {
	p := domain.Partner{FormatOptions: domain.FormatOptions{Link: "https://feeds.example/acme"}}
	formattest.Run(t, "mrss", formattest.Features{Partner: p, XML: true,
		BadOptions: []domain.FormatOptions{{}, {Link: "feeds.example/acme"}, {Link: "ftp://feeds.example/"}}})
}
