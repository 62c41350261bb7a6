package secret

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestSSM resolves aws-ssm references against an HTTP endpoint that speaks
// SSM's JSON protocol (AWS itself cannot be reached from here): a found
// parameter, caching for SSMTTL, a missing parameter, and no value in errors.
func TestSSM(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Header.Get("X-Amz-Target") != "AmazonSSM.GetParameter" || !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256") {
			http.Error(w, "bad request", 400)
			return
		}
		var in struct {
			Name           string
			WithDecryption bool
		}
		json.NewDecoder(r.Body).Decode(&in)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		if in.Name != "/syndicate/acme/key" || !in.WithDecryption {
			w.WriteHeader(400)
			w.Write([]byte(`{"__type":"ParameterNotFound","message":"not found"}`))
			return
		}
		w.Write([]byte(`{"Parameter":{"Name":"/syndicate/acme/key","Type":"SecureString","Value":"ssm-s3cret-value","Version":3}}`))
	}))
	defer srv.Close()
	t.Setenv("SYNDICATE_SSM_ENDPOINT", srv.URL)
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")

	for range 2 {
		v, err := Resolve("aws-ssm:/syndicate/acme/key")
		if err != nil || string(v) != "ssm-s3cret-value" {
			t.Fatalf("Resolve = %q, %v", v, err)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d calls for two resolves within the TTL, want 1", n)
	}
	old := SSMTTL
	SSMTTL = time.Nanosecond
	defer func() { SSMTTL = old }()
	Resolve("aws-ssm:/syndicate/acme/key")
	if n := calls.Load(); n != 2 {
		t.Fatalf("%d calls after the TTL, want 2", n)
	}
	_, err := Resolve("aws-ssm:/syndicate/missing")
	if !errors.Is(err, ErrNotFound) || strings.Contains(err.Error(), "ssm-s3cret-value") {
		t.Fatalf("missing parameter: %v", err)
	}
	if _, err := Resolve("aws-ssm:relative"); err == nil {
		t.Fatal("relative parameter name accepted")
	}
}
