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
