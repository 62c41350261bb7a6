package main_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syndicate-media/syndicate/internal/store/storetest"
)

// TestPartnerVersionsCLI walks the configuration workflow an operator
// uses: apply, dry run, history, diff, rollback, rollout, promote.
func TestPartnerVersionsCLI(t *testing.T) {
	cfg := storetest.SQLite(t)
	p := serve(t, cfg.DataDir, "")
	dir := t.TempDir()
	file := filepath.Join(dir, "acme.yaml")
	write := func(name string) {
		os.WriteFile(file, []byte("id: acme\nname: "+name+"\nformat: json\ndestination:\n  url: file://"+dir+"/out\n"), 0o644)
	}
	expect := func(out, want string) {
		t.Helper()
		if !strings.Contains(out, want) {
			t.Fatalf("want %q in:\n%s", want, out)
		}
	}
	write("Acme")
	expect(cli(t, p.url, "partners", "apply", "-f", file, "-m", "onboard acme"), "partner acme: version 1")
	expect(cli(t, p.url, "partners", "apply", "-f", file), "unchanged (version 1)")
	write("Acme Corp")
	out := cli(t, p.url, "partners", "apply", "-f", file, "--dry-run")
	expect(out, "would change")
	expect(out, "name: Acme -> Acme Corp")
	expect(cli(t, p.url, "partners", "history", "acme"), "onboard acme")
	expect(cli(t, p.url, "partners", "apply", "-f", dir), "partner acme: version 2")
	expect(cli(t, p.url, "partners", "diff", "acme", "1", "2"), "name: Acme -> Acme Corp")
	expect(cli(t, p.url, "partners", "rollback", "acme", "--to", "1"), "version 3 now active (content of version 1)")
	write("Acme Next")
	expect(cli(t, p.url, "partners", "apply", "-f", file, "--rollout", "25%"), "version 4 rolling out to 25% of assets (active: version 3)")
	out = cli(t, p.url, "partners", "status", "acme")
	expect(out, "active version 3")
	expect(out, "rolling out version 4 to 25%")
	expect(cli(t, p.url, "partners", "promote", "acme"), "version 4 now active for all assets")
	hist := cli(t, p.url, "partners", "history", "acme")
	if strings.Count(hist, "\n") != 5 { // header + 4 versions
		t.Fatalf("history:\n%s", hist)
	}
}

// TestPackagePreview builds a partner's package locally with
// `syndicate package` and finds the files and the manifest.
func TestPackagePreview(t *testing.T) {
	cfg := storetest.SQLite(t)
	p := serve(t, cfg.DataDir, "")
	dir := t.TempDir()
	media := filepath.Join(dir, "m.mp4")
	os.WriteFile(media, []byte("media bytes"), 0o644)
	os.WriteFile(filepath.Join(dir, "p.yaml"), []byte("id: acme\nname: Acme\nformat: json\ndestination:\n  url: sftp://u@partner.example/in\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "a.json"), []byte(`{"id":"ep-1","type":"episode","title":"Pilot","media":[{"role":"main","uri":"`+media+`"}]}`), 0o644)
	cli(t, p.url, "partners", "apply", "-f", filepath.Join(dir, "p.yaml"))
	cli(t, p.url, "assets", "import", filepath.Join(dir, "a.json"))
	out := cli(t, p.url, "package", "--asset", "ep-1", "--partner", "acme", "--out", filepath.Join(dir, "out"))
	for _, want := range []string{"main.mp4", "metadata.json", `"delivery_id": "preview"`, `"sha256"`} {
		if !strings.Contains(out, want) {
			t.Fatalf("want %q in:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out", "ep-1", "manifest.json")); err != nil {
		t.Fatal(err)
	}
}
