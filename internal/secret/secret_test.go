package secret

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	t.Setenv("SYN_TEST_SECRET", "s3cr3t")
	f := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(f, []byte("from-file"), 0o600); err != nil {
		t.Fatal(err)
	}
	for ref, want := range map[string]string{"env:SYN_TEST_SECRET": "s3cr3t", "file:" + f: "from-file", "": ""} {
		got, err := Resolve(ref)
		if err != nil || string(got) != want {
			t.Errorf("Resolve(%q) = %q, %v", ref, got, err)
		}
	}
}

func TestResolveErrors(t *testing.T) {
	t.Setenv("SYN_TEST_EMPTY", "")
	for _, ref := range []string{"env:SYN_TEST_UNSET_XYZ", "env:SYN_TEST_EMPTY", "file:/nonexistent/key"} {
		if _, err := Resolve(ref); !errors.Is(err, ErrNotFound) {
			t.Errorf("Resolve(%q) err = %v, want ErrNotFound", ref, err)
		}
	}
	for _, ref := range []string{"hunter2", "vault:x", "env:"} {
		_, err := Resolve(ref)
		if err == nil {
			t.Errorf("Resolve(%q) succeeded", ref)
		}
	}
	t.Setenv("SYN_TEST_SECRET", "s3cr3t")
	if _, err := Resolve("file:/nonexistent"); err != nil && strings.Contains(err.Error(), "s3cr3t") {
		t.Error("error leaks a secret")
	}
}

func TestHashToken(t *testing.T) {
	// sha256("abc"), hex: the stored form of every issued credential.
	if got := HashToken("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("HashToken(abc) = %s", got)
	}
}
