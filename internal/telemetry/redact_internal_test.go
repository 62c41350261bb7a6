package telemetry

import "testing"

// The fast path must never change what Redact returns.
func TestRedactFastPathAgrees(t *testing.T) {
	inputs := []string{
		`{"asset_id":"ep-1","partners":["acme"],"idempotency_key":"n-1"}`,
		`{"notification_id":"0193","idempotency_key":"k","status":"accepted"}`,
		`{"key":"v"}`, `key: v`, `- key= v`, `{"Password":"x"}`, `{"x":"sftp://u:p@h/"}`, `syn_0123456789abcdefABCDEF`,
		`{"monkey":"v"}`, `{"a.key":"v"}`, `{"api_key":"v"}`, `{"API-KEY-ID":"v"}`, `{"paſsword":"x"}`, "name: ok\nkey: secret\n",
		`{"privateKey":"v"}`, `{"x":"y","sessionid":1}`,
	}
	for _, in := range inputs {
		if got, want := Redact(in), redactAll(in); got != want {
			t.Errorf("Redact(%q) = %q, the patterns give %q", in, got, want)
		}
	}
}

func FuzzRedactFastPath(f *testing.F) {
	f.Add(`{"asset_id":"ep-1","idempotency_key":"k"}`)
	f.Add(`{"key":"v"}`)
	f.Fuzz(func(t *testing.T, in string) {
		if got, want := Redact(in), redactAll(in); got != want {
			t.Fatalf("Redact(%q) = %q, the patterns give %q", in, got, want)
		}
	})
}
