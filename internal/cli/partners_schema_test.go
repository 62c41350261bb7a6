package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/syndicate-media/syndicate/internal/all" // transports and formats, as in the binary
	"github.com/syndicate-media/syndicate/internal/cli"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := &cli.Env{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}
	code = cli.Run(context.Background(), env, args)
	return code, out.String(), errOut.String()
}

func TestPartnersValidate(t *testing.T) {
	dir := t.TempDir()
	good := "id: archive\nname: Archive\nformat: json\ndestination:\n  url: file:///srv/archive\nretry:\n  base_interval: 30s\n"
	bad := "id: acme\nname: Acme\nformat: json\ndestination:\n  url: sftp://acme@h.example/in\n  credentials: hunter2\nretry:\n  base_interval: 2 minutes\n"
	os.WriteFile(filepath.Join(dir, "archive.yaml"), []byte(good), 0o644)
	os.WriteFile(filepath.Join(dir, "acme.yml"), []byte(bad), 0o644)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not a profile"), 0o644)

	code, out, errOut := runCLI(t, "partners", "validate", dir)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
	}
	acme := filepath.Join(dir, "acme.yml")
	want := acme + ":6:3: destination.credentials: must be a secret reference env:NAME, file:/absolute/path or aws-ssm:/parameter/name, not the secret itself\n" +
		acme + ":8:3: retry.base_interval: must be a Go duration such as 90s, 15m or 24h (units ns, us, ms, s, m, h; no spaces)\n" +
		"ok " + filepath.Join(dir, "archive.yaml") + "\n"
	if out != want {
		t.Fatalf("stdout:\n%s\nwant:\n%s", out, want)
	}
	if !strings.Contains(errOut, "1 of 2 profiles have problems") || strings.Contains(out+errOut, "hunter2") {
		t.Fatalf("stderr: %q", errOut)
	}

	if code, out, _ := runCLI(t, "partners", "validate", filepath.Join(dir, "archive.yaml")); code != 0 || !strings.HasPrefix(out, "ok ") {
		t.Fatalf("good file alone: exit %d %q", code, out)
	}
}

func TestPartnersSchema(t *testing.T) {
	code, out, errOut := runCLI(t, "partners", "schema")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var s map[string]any
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if s["$schema"] != "https://json-schema.org/draft/2020-12/schema" || s["properties"] == nil {
		t.Fatalf("not the profile schema: %.300s", out)
	}
}
