package partner_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	_ "github.com/syndicate-media/syndicate/internal/all" // the transports and formats a profile may name
	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/partner"
)

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// problems parses doc and returns its problems rendered, failing the test
// if the error is not an *partner.Errors.
func problems(t *testing.T, file, doc string) []string {
	t.Helper()
	_, err := partner.Parse(file, []byte(doc))
	if err == nil {
		return nil
	}
	var pe *partner.Errors
	if !errors.As(err, &pe) {
		t.Fatalf("error is %T, not *partner.Errors: %v", err, err)
	}
	out := make([]string, len(pe.Problems))
	for i, p := range pe.Problems {
		out[i] = p.String()
	}
	return out
}

func TestGoodProfile(t *testing.T) {
	p, err := partner.Parse("good.yaml", readFile(t, "good.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := domain.Partner{ID: "streamco", Name: "StreamCo", Format: "json",
		Destination: domain.Destination{URL: "sftp://syndicate@sftp.streamco.example:22/incoming",
			Credentials: "file:/etc/syndicate/streamco_ed25519", HostKey: "SHA256:uW1uQ0q8VZ1qk3XzQ5n9vD7c5fX0Jq1c8b8m7mJx2yE",
			Path: "{asset_id}/{delivery_id}", MaxBytesPerSecond: 20_000_000},
		Retry: domain.Retry{MaxAttempts: 7, BaseInterval: domain.Duration(30e9)},
		Feedback: domain.Feedback{AckTimeout: domain.Duration(24 * 3600e9), RequireSignature: true,
			SigningSecret: "env:STREAMCO_SIGNING_SECRET", RedeliverOnReject: 2, RequestsPerSecond: 5,
			Receipt: &domain.Receipt{Name: "status.csv", Format: "csv"}},
	}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("got  %+v\nwant %+v", p, want)
	}
	if err := partner.Validate(p); err != nil {
		t.Fatalf("Validate of a parsed profile: %v", err)
	}
}

func TestThreeMistakes(t *testing.T) {
	got := problems(t, "acme.yaml", string(readFile(t, "acme.yaml")))
	want := []string{
		"acme.yaml:4:1: colour: unknown field (expected one of: id, name, format, destination, retry, feedback,",
		"acme.yaml:7:3: destination.credentials: must be a secret reference env:NAME, file:/absolute/path or aws-ssm:/parameter/name, not the secret itself",
		"acme.yaml:10:3: retry.max_attempts: expected integer, got string",
	}
	if len(got) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
	if strings.Contains(strings.Join(got, "\n"), "hunter2") {
		t.Fatal("a problem quotes the secret")
	}
}

func TestProblems(t *testing.T) {
	const head = "id: acme\nname: Acme\nformat: json\n"
	cases := []struct {
		name, file, doc string
		want            []string // each a substring of one problem, in order
	}{
		{"unknown scheme", "p.yaml", head + "destination:\n  url: gopher://h/x\n",
			[]string{`p.yaml:5:3: destination.url: unknown scheme "gopher" (have file, `}},
		{"unknown format", "p.yaml", "id: acme\nname: Acme\nformat: adi99\ndestination:\n  url: file:///tmp/x\n",
			[]string{`p.yaml:3:1: format: unknown metadata format "adi99" (have [adi11 csv json mrss template])`}},
		{"bad duration", "p.yaml", head + "destination:\n  url: file:///tmp/x\nretry:\n  base_interval: 2 minutes\n",
			[]string{"p.yaml:7:3: retry.base_interval: must be a Go duration such as 90s"}},
		{"duration too large", "p.yaml", head + "destination:\n  url: file:///tmp/x\nfeedback:\n  ack_timeout: 99999999999h\n",
			[]string{"p.yaml:7:3: feedback.ack_timeout: must be a Go duration"}},
		{"password in URL", "p.yaml", head + "destination:\n  url: sftp://bob:s3cr3t-pw@h/in\n",
			[]string{"p.yaml:5:3: destination.url: must not contain a password"}},
		{"missing fields", "p.yaml", "name: Acme\ndestination:\n  path: x\n",
			[]string{"p.yaml:1:1: format: required", "p.yaml:1:1: id: required", "p.yaml:2:1: destination.url: required"}},
		{"signature without secret", "p.yaml", head + "destination:\n  url: file:///tmp/x\nfeedback:\n  require_signature: true\n",
			[]string{"p.yaml:6:1: feedback.signing_secret: required when require_signature is true"}},
		{"receipt", "p.yaml", head + "destination:\n  url: file:///tmp/x\nfeedback:\n  receipt:\n    name: manifest.json\n    format: xml\n",
			[]string{"p.yaml:8:5: feedback.receipt.name: a plain file name other than manifest.json",
				"p.yaml:9:5: feedback.receipt.format: must be one of: json, csv"}},
		{"bad id", "p.yaml", "id: Acme Co\nname: Acme\nformat: json\ndestination:\n  url: file:///tmp/x\n",
			[]string{"p.yaml:1:1: id: must be 1-63 lowercase letters"}},
		{"duplicate key", "p.yaml", head + "name: Again\ndestination:\n  url: file:///tmp/x\n",
			[]string{"p.yaml:4:1: name: written twice (first on line 2)"}},
		{"yaml syntax", "p.yaml", head + "destination:\n  url: [unclosed\n",
			[]string{"p.yaml:5: invalid YAML: did not find expected ',' or ']'"}},
		{"yaml scanner error", "p.yaml", "id: a\nname: b\nc 2\nd: 3\n", []string{"p.yaml:3: invalid YAML: could not find expected ':'"}},
		{"yaml parser error", "p.yaml", "id: a\nname: b\n- item\n", []string{"p.yaml:3: invalid YAML: did not find expected key"}},
		{"yaml one line", "p.yaml", "name: [unclosed", []string{"p.yaml:1: invalid YAML: did not find expected ',' or ']'"}},
		{"json syntax", "p.json", "{\n  \"id\": \"acme\",\n  \"name\": \"Acme\"\n  \"format\": \"json\"\n}",
			[]string{"p.json:4:3: invalid JSON: invalid character '\"' after object key:value pair"}},
		{"json problems", "p.json", "{\n  \"id\": \"acme\",\n  \"name\": \"Acme\",\n  \"format\": \"json\",\n  \"destination\": {\"url\": \"file:///x\", \"colour\": 1}\n}",
			[]string{"p.json:5:39: destination.colour: unknown field"}},
		{"not a mapping", "p.yaml", "- id: acme\n", []string{"p.yaml:1:1: expected object, got array"}},
		{"empty", "p.yaml", "", []string{"p.yaml:1: empty document"}},
		{"two documents", "p.yaml", head + "destination:\n  url: file:///tmp/x\n---\nid: b\n", []string{"p.yaml:6:1: a second YAML document"}},
		{"image specs", "p.yaml", head + "destination:\n  url: file:///tmp/x\npackage:\n  subtitles: ass\n  images:\n" +
			"    - {role: cover, width: 640, height: 360}\n" +
			"    - role: cover\n      width: 0\n      height: 360\n      crop: stretch\n" +
			"    - role: thumb\n      name: thumb.png\n      width: 64\n      height: 64\n      background: red\n",
			[]string{"p.yaml:7:3: package.subtitles: must be one of: webvtt, srt",
				`p.yaml:10:7: package.images[1].role: "cover" is also package.images[0]'s role`,
				"p.yaml:11:7: package.images[1].width: must be at least 1",
				"p.yaml:13:7: package.images[1].crop: must be one of: fill, fit",
				"p.yaml:15:7: package.images[2].name: must end in .jpg or .jpeg for format jpeg",
				"p.yaml:18:7: package.images[2].background: must be a colour written #rrggbb"}},
		{"focal point is the asset's", "p.yaml", head + "destination:\n  url: file:///tmp/x\npackage:\n  images:\n    - {role: c, width: 1, height: 1, focal: {x: 0.5, y: 0.5}}\n",
			[]string{"p.yaml:8:38: package.images[0].focal: unknown field (expected one of: role, name, width, height, crop, format, quality, max_bytes, max_upscale, background, source)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := problems(t, c.file, c.doc)
			if len(got) != len(c.want) {
				t.Fatalf("got %d problems, want %d:\n%s", len(got), len(c.want), strings.Join(got, "\n"))
			}
			for i := range got {
				if !strings.Contains(got[i], c.want[i]) {
					t.Errorf("problem %d:\n got %s\nwant %s...", i, got[i], c.want[i])
				}
			}
			if strings.Contains(strings.Join(got, "\n"), "s3cr3t-pw") {
				t.Error("a problem quotes the password")
			}
		})
	}
}

func TestSyntaxErrorIsErrSyntax(t *testing.T) {
	_, err := partner.Parse("p.yaml", []byte("name: [unclosed"))
	if !errors.Is(err, partner.ErrSyntax) {
		t.Fatalf("a YAML syntax error is not ErrSyntax: %v", err)
	}
	_, err = partner.Parse("p.yaml", []byte("name: x\n"))
	if err == nil || errors.Is(err, partner.ErrSyntax) {
		t.Fatalf("an invalid profile is ErrSyntax: %v", err)
	}
}

func TestJSONProfile(t *testing.T) {
	for _, name := range []string{"good.json", ""} { // by extension, and by content
		p, err := partner.Parse(name, readFile(t, "good.json"))
		if err != nil {
			t.Fatal(err)
		}
		if p.ID != "archive" || p.Name != "Archive folder \U0001F4BE" || p.Retry.BaseInterval != domain.Duration(90e9) {
			t.Fatalf("%+v", p)
		}
	}
}

func TestSchemaKeyAccepted(t *testing.T) {
	doc := "$schema: https://example.com/partner.schema.json\nid: a\nname: A\nformat: json\ndestination:\n  url: file:///tmp/a\n"
	if _, err := partner.Parse("a.yaml", []byte(doc)); err != nil {
		t.Fatal(err)
	}
	// Only at the top: elsewhere it is an unknown field like any other.
	got := problems(t, "a.yaml", doc+"  $schema: x\n")
	if len(got) != 1 || !strings.Contains(got[0], "destination.$schema: unknown field") {
		t.Fatal(got)
	}
}

func TestParseFor(t *testing.T) {
	doc := []byte("name: A\nformat: json\ndestination:\n  url: file:///tmp/a\n")
	p, err := partner.ParseFor("acme", "", doc)
	if err != nil || p.ID != "acme" {
		t.Fatalf("%+v %v", p, err)
	}
	_, err = partner.ParseFor("other", "", append([]byte("id: acme\n"), doc...))
	if err == nil || err.Error() != `1:1: id: "acme" differs from the partner "other" this profile is sent for` {
		t.Fatal(err)
	}
}

func TestValidate(t *testing.T) {
	p := domain.Partner{ID: "Bad ID", Name: "x", Format: "nope",
		Destination: domain.Destination{URL: "file:///tmp/x", Credentials: "hunter2"},
		Retry:       domain.Retry{MaxAttempts: 500, BaseInterval: -1}}
	err := partner.Validate(p)
	var pe *partner.Errors
	if !errors.As(err, &pe) {
		t.Fatalf("%T %v", err, err)
	}
	want := []string{
		"destination.credentials: must be a secret reference env:NAME, file:/absolute/path or aws-ssm:/parameter/name, not the secret itself",
		`format: unknown metadata format "nope" (have [adi11 csv json mrss template])`,
		"id: must be 1-63 lowercase letters, digits, _ or -, starting with a letter or digit",
		"retry.base_interval: must be a Go duration such as 90s, 15m or 24h (units ns, us, ms, s, m, h; no spaces)",
		"retry.max_attempts: must be at most 100",
	}
	var got []string
	for _, p := range pe.Problems {
		if p.Line != 0 || p.File != "" {
			t.Errorf("Validate placed a problem in a file: %+v", p)
		}
		got = append(got, p.String())
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	good, err := partner.Parse("good.yaml", readFile(t, "good.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	good.Defaults()
	if err := partner.Validate(good); err != nil {
		t.Fatalf("a profile with its defaults: %v", err)
	}
}

func TestValidateResolvable(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "key")
	os.WriteFile(key, []byte("PRIVATE-KEY-BYTES"), 0o600)
	t.Setenv("SIGNING_SECRET_SET", "sig-value-123")
	p := domain.Partner{Destination: domain.Destination{Credentials: "file:" + key},
		Feedback: domain.Feedback{SigningSecret: "env:SIGNING_SECRET_SET"}}
	if err := partner.ValidateResolvable(p); err != nil {
		t.Fatal(err)
	}
	p.Destination.Credentials = "file:" + filepath.Join(dir, "missing")
	p.Feedback.SigningSecret = "env:SYNDICATE_TEST_UNSET_SECRET"
	err := partner.ValidateResolvable(p)
	if err == nil {
		t.Fatal("unresolvable secrets accepted")
	}
	msg := err.Error()
	for _, want := range []string{"destination.credentials: secret file:", "feedback.signing_secret: secret env:SYNDICATE_TEST_UNSET_SECRET"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q lacks %q", msg, want)
		}
	}
	p.Destination.Credentials = "hunter2"
	if err := partner.ValidateResolvable(p); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("literal secret: %v", err)
	}
}

func TestSchemaGolden(t *testing.T) {
	got := partner.Schema()
	if *partner.Update {
		var err error
		if got, err = partner.FreshSchema(); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("testdata", "schema.golden.json"), got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if want := readFile(t, "schema.golden.json"); !bytes.Equal(got, want) {
		t.Fatalf("Schema() differs from testdata/schema.golden.json; if the change is meant, run go test ./internal/partner -update\n%s", got)
	}
	var v map[string]any
	if err := json.Unmarshal(got, &v); err != nil {
		t.Fatal(err)
	}
}

func TestHostileDocuments(t *testing.T) {
	bomb := "a: &a [x, x, x, x, x, x, x, x, x]\n"
	for i := 'b'; i <= 'k'; i++ {
		prev := string(i - 1)
		bomb += string(i) + ": &" + string(i) + " [*" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + "]\n"
	}
	for name, doc := range map[string]string{
		"alias bomb":  bomb,
		"deep yaml":   strings.Repeat("[", 5000) + strings.Repeat("]", 5000),
		"deep json":   strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000),
		"long string": "id: " + strings.Repeat("x", 1<<20) + "\n",
	} {
		_, err := partner.Parse("", []byte(doc))
		var pe *partner.Errors
		if !errors.As(err, &pe) {
			t.Errorf("%s: %v", name, err)
		}
		t.Logf("%s: %.200s", name, err)
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"good.yaml", "good.json", "acme.yaml"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("id: a\nname: A\nformat: json\ndestination: {url: 'file:///x'}\nbase: &b {max_attempts: 2}\nretry: *b\n"))
	f.Add([]byte("a: &a [*a]"))
	f.Add([]byte(`{"id":"a","name":"A","format":"json","destination":{"url":"file:///x"},"feedback":{"requests_per_second":1e400}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := partner.Parse("fuzz.yaml", data)
		if err != nil {
			var pe *partner.Errors
			if !errors.As(err, &pe) || len(pe.Problems) == 0 {
				t.Fatalf("error %T without problems: %v", err, err)
			}
			return
		}
		if err := partner.Validate(p); err != nil {
			t.Fatalf("accepted by Parse, refused by Validate: %v\n%+v", err, p)
		}
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		again, err := partner.Parse("again.json", b)
		if err != nil {
			t.Fatalf("accepted profile does not parse again from its JSON %s: %v", b, err)
		}
		// Compared as JSON: an empty list and a missing one are the same profile.
		if b2, _ := json.Marshal(again); !bytes.Equal(b, b2) {
			t.Fatalf("round trip changed the profile:\n%s\n%s", b, b2)
		}
	})
}
