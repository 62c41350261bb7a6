package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/syndicate-media/syndicate/internal/all" // the catalog kinds
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "syndicate.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestExampleCatalogConfigs(t *testing.T) {
	t.Setenv("CMS_TOKEN", "x")
	t.Setenv("APPSYNC_API_KEY", "x")
	for _, name := range []string{"catalog-http.yaml", "catalog-graphql.yaml"} {
		cfg, err := loadServeConfig(filepath.Join("..", "..", "examples", name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if name == "catalog-http.yaml" && (cfg.Catalog.Timeout != 10*time.Second || cfg.Catalog.BaseInterval != 500*time.Millisecond) {
			t.Fatalf("durations: %+v", cfg.Catalog)
		}
	}
	if cfg, err := loadServeConfig(""); err != nil || cfg.Catalog.Kind != "" {
		t.Fatalf("no file: %+v %v", cfg, err)
	}
}

// TestServeRefusesBadConfig runs the real command: it stops before
// starting anything, naming the file and each field.
func TestServeRefusesBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"unknown field", "catalog:\n  kind: http\n  urll: https://x/{id}\n", []string{"line 3: field urll not found"}},
		{"bad duration", "catalog:\n  kind: http\n  timeout: 10\n", []string{"line 3: cannot unmarshal !!int `10` into time.Duration"}},
		{"unknown kind", "catalog:\n  kind: soap\n", []string{`catalog.kind: "soap" is not one of builtin, graphql, http`}},
		{"http problems", "catalog:\n  kind: http\n  url: ftp://cms.example/{id}\n  auth: {secret: env:SYN_UNSET_FOR_TEST}\n  mapping: {title: a.b}\n",
			[]string{`catalog.url: scheme "ftp": want http or https`, `catalog.auth.secret: secret env:SYN_UNSET_FOR_TEST: environment variable is unset or empty`,
				"catalog.mapping.type: required", "catalog.mapping.media: required"}},
		{"builtin with a url", "catalog:\n  url: https://cms.example/{id}\n", []string{"kind builtin takes no url"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.body)
			var stderr bytes.Buffer
			env := &Env{Stdout: &bytes.Buffer{}, Stderr: &stderr, Getenv: func(string) string { return "" }}
			code := Run(context.Background(), env, []string{"serve", "--data-dir", t.TempDir(), "--addr", "127.0.0.1:0", "--config", path})
			if code != 1 || !strings.HasPrefix(stderr.String(), "syndicate serve: config "+path+": ") {
				t.Fatalf("exit %d, stderr %q", code, stderr.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
		})
	}
}

// TestServeUsesConfiguredCatalog starts the real command with a catalog
// file and checks the running server took it: the start log names the
// kind, and the built-in catalog's PUT is refused.
func TestServeUsesConfiguredCatalog(t *testing.T) {
	t.Setenv("SYN_CLI_CMS_TOKEN", "cli-cms-token-4411")
	path := writeConfig(t, `catalog:
  kind: http
  url: http://127.0.0.1:9/assets/{id}
  auth: {secret: env:SYN_CLI_CMS_TOKEN}
  mapping: {type: =clip, title: t, media: "m[*]", media.role: r, media.uri: u}
`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr syncBuffer
	env := &Env{Stdout: &bytes.Buffer{}, Stderr: &stderr, Getenv: func(string) string { return "" }}
	const token = "cli-config-test-token-0123456789"
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, env, []string{"serve", "--data-dir", t.TempDir(), "--addr", "127.0.0.1:0", "--token", token, "--config", path})
	}()
	var started struct{ URL, Catalog string }
	for deadline := time.Now().Add(60 * time.Second); started.URL == ""; time.Sleep(20 * time.Millisecond) {
		for line := range strings.Lines(stderr.String()) {
			if strings.Contains(line, `"msg":"syndicate serving"`) {
				if err := json.Unmarshal([]byte(line), &started); err != nil {
					t.Fatal(err)
				}
			}
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited %d: %s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start: %s", stderr.String())
		}
	}
	if started.Catalog != "http" {
		t.Fatalf("start log: catalog %q", started.Catalog)
	}
	req, _ := http.NewRequest(http.MethodPut, started.URL+"/v1/assets/ep-1", strings.NewReader(`{"id":"ep-1","type":"clip","title":"T","media":[{"role":"main","uri":"/m"}]}`))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("PUT /v1/assets with an http catalog: %s", resp.Status)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exited %d: %s", code, stderr.String())
	}
	if strings.Contains(stderr.String(), "cli-cms-token-4411") {
		t.Fatal("the CMS token is in the log")
	}
}

// syncBuffer is a bytes.Buffer the server's goroutines can log into.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
