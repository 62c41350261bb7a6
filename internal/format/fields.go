package format

import (
	"errors"
	"fmt"

	"github.com/syndicate-media/syndicate/internal/domain"
)

// FieldUser is implemented by formats that can say which asset fields
// their document prints for partner p, so that a change to any other
// field sends the partner nothing. Field names are those of partner rules
// ("id", "type", "title", "metadata.<key>", "rights"); "metadata.*" is
// every metadata key. all is true when the format cannot tell (a template
// that hands .Metadata to a function) or prints everything (json).
type FieldUser interface {
	UsedFields(p domain.Partner) (fields []string, all bool)
}

// UsedFields asks f which fields its document uses for p; a format that
// does not implement FieldUser uses everything.
func UsedFields(f Format, p domain.Partner) (fields []string, all bool) {
	if u, ok := f.(FieldUser); ok {
		return u.UsedFields(p)
	}
	return nil, true
}

// DescriptionFields are the keys Description reads.
var DescriptionFields = []string{"metadata." + KeyDescription, "metadata." + KeySynopsis}

// Takedowner is implemented by formats that can ask a partner to remove
// an asset it received earlier (its rights window ended). The document
// has the format's usual file name and lists no files.
type Takedowner interface {
	RenderTakedown(a domain.Asset, p domain.Partner) ([]byte, error)
}

// ErrNoTakedown is returned for a format that cannot express a takedown.
var ErrNoTakedown = errors.New("format cannot express a takedown")

// RenderTakedown renders f's takedown document for asset a.
func RenderTakedown(f Format, a domain.Asset, p domain.Partner) ([]byte, error) {
	t, ok := f.(Takedowner)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNoTakedown, p.Format)
	}
	return t.RenderTakedown(a, p)
}
