package format

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/syndicate-media/syndicate/internal/domain"
)

// The asset metadata keys the formats read, so every format takes the same
// field from the same place. Any other key reaches a partner only through
// the json format, a csv metadata.<key> column or a template.
const (
	KeyDescription  = "description"   // else KeySynopsis
	KeySynopsis     = "synopsis"      //
	KeyKeywords     = "keywords"      // list, or one string
	KeyTerritories  = "territories"   // ISO 3166 codes, as in partner rules
	KeyGenres       = "genres"        // list, or one string
	KeyRating       = "rating"        // e.g. TV-14
	KeyYear         = "year"          //
	KeyRunTime      = "run_time"      // as the partner expects it, e.g. 00:42:10
	KeyPubDate      = "pub_date"      // date or RFC 3339 time; else KeyReleaseDate
	KeyReleaseDate  = "release_date"  //
	KeyCreationDate = "creation_date" // ADI Creation_Date; else the pub date
	KeyVersion      = "version"       // ADI Version_Major when the catalog counts versions
	KeyWindowStart  = "licensing_window_start"
	KeyWindowEnd    = "licensing_window_end"
)

// Text is the first of keys that has a non-empty value, as text (see
// String).
func Text(a domain.Asset, keys ...string) string {
	for _, k := range keys {
		if s := String(a.Metadata[k]); s != "" {
			return s
		}
	}
	return ""
}

// Description is metadata.description, else metadata.synopsis.
func Description(a domain.Asset) string { return Text(a, KeyDescription, KeySynopsis) }

// List is the metadata value at key as a list of non-empty strings (see
// Strings).
func List(a domain.Asset, key string) []string { return Strings(a.Metadata[key]) }

// Strings is a list's non-empty items as text (see String), or a single
// non-empty value as one item.
func Strings(v any) []string {
	var out []string
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			if s := String(e); s != "" {
				out = append(out, s)
			}
		}
	case []string:
		for _, s := range v {
			if s != "" {
				out = append(out, s)
			}
		}
	default:
		if s := String(v); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Date is the first of keys that holds a value, read as a date
// (2006-01-02) or an RFC 3339 time. ok is false when none of the keys is
// set; a value that is not a date is an error naming the key.
func Date(a domain.Asset, keys ...string) (t time.Time, ok bool, err error) {
	for _, k := range keys {
		s := Text(a, k)
		if s == "" {
			continue
		}
		for _, layout := range []string{time.DateOnly, time.RFC3339} {
			if t, err := time.Parse(layout, s); err == nil {
				return t, true, nil
			}
		}
		return time.Time{}, false, fmt.Errorf("metadata.%s: %q is not a date (want 2006-01-02 or RFC 3339)", k, s)
	}
	return time.Time{}, false, nil
}

// String is a metadata value as text: strings as they are, numbers
// without exponent or trailing zeros, lists joined with ", ", objects as
// JSON (keys sorted), nil as "".
func String(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool, int, int64, json.Number:
		return fmt.Sprint(v)
	case []any, []string:
		return strings.Join(Strings(v), ", ")
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Sprint(v)
		}
		return string(b)
	}
}
