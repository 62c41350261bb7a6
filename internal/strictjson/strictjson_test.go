package strictjson_test

import (
	"strings"
	"testing"

	"github.com/syndicate-media/syndicate/internal/strictjson"
)

func TestDecode(t *testing.T) {
	type doc struct {
		A int `json:"a"`
	}
	var d doc
	if err := strictjson.Decode([]byte(` {"a": 1} `), &d); err != nil || d.A != 1 {
		t.Fatalf("good document: %+v %v", d, err)
	}
	for body, want := range map[string]string{
		``:              "empty body",
		`{"a":`:         "invalid JSON",
		`{"a":"x"}`:     `field "a": expected int, got string`,
		`{"b":1}`:       `unknown field "b"`,
		`{"a":1} {}`:    "unexpected data after the JSON document",
		`{"a":1}]`:      "unexpected data after the JSON document",
		`{"a":1} trail`: "unexpected data after the JSON document",
	} {
		if err := strictjson.Decode([]byte(body), &doc{}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", body, err, want)
		}
	}
}
