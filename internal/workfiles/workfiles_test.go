package workfiles_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/internal/workfiles"
)

// stores runs fn against a folder store, and against S3 on versitygw when
// scripts/versitygw.sh's env is loaded (required in the full suite).
func stores(t *testing.T, fn func(t *testing.T, s *workfiles.Store)) {
	t.Run("fileblob", func(t *testing.T) {
		s, err := workfiles.Open(context.Background(), "file://"+filepath.Join(t.TempDir(), "blobs"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		fn(t, s)
	})
	t.Run("versitygw", func(t *testing.T) {
		u := VersityURL(t)
		s, err := workfiles.Open(context.Background(), u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		fn(t, s)
	})
}

// VersityURL is an s3:// blob URL for scripts/versitygw.sh's server, with
// its keys in the AWS environment variables (the default chain reads
// them). It skips, or fails in the full suite, without the server.
func VersityURL(t *testing.T) string {
	t.Helper()
	env := map[string]string{}
	for _, k := range []string{"ENDPOINT", "ACCESS_KEY", "SECRET_KEY", "BUCKET"} {
		env[k] = os.Getenv("SYNDICATE_TEST_S3_" + k)
		if env[k] == "" {
			msg := "SYNDICATE_TEST_S3_" + k + " not set; run scripts/versitygw.sh as root and source the env file it writes"
			if os.Getenv("SYNDICATE_FULL") == "1" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	t.Setenv("AWS_ACCESS_KEY_ID", env["ACCESS_KEY"])
	t.Setenv("AWS_SECRET_ACCESS_KEY", env["SECRET_KEY"])
	return "s3://" + env["BUCKET"] + "?region=us-east-1&use_path_style=true&endpoint=" + env["ENDPOINT"]
}

func TestPutFetchDelete(t *testing.T) {
	stores(t, func(t *testing.T, s *workfiles.Store) {
		ctx := context.Background()
		id := "d-" + time.Now().Format("150405.000000000")
		src := t.TempDir()
		meta := filepath.Join(src, "metadata.json")
		os.WriteFile(meta, []byte(`{"title":"Pilot"}`+"\n"), 0o644)
		vid := filepath.Join(src, "main.mp4")
		big := make([]byte, 3<<20+17)
		rand.Read(big)
		os.WriteFile(vid, big, 0o644)
		if err := s.Put(ctx, id, "metadata.json", meta); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ctx, id, "video/main.mp4", vid); err != nil {
			t.Fatal(err)
		}
		if keys, err := s.Keys(ctx, id); err != nil || strings.Join(keys, ",") != "metadata.json,video/main.mp4" {
			t.Fatalf("keys %v, %v", keys, err)
		}
		dst := t.TempDir()
		got := filepath.Join(dst, id, "video", "main.mp4")
		if err := s.Fetch(ctx, id, "video/main.mp4", got); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(got); !bytes.Equal(b, big) {
			t.Fatalf("fetched %d bytes, not the %d put", len(b), len(big))
		}
		entries, _ := os.ReadDir(filepath.Dir(got))
		if len(entries) != 1 {
			t.Fatalf("the fetch left temporary files: %v", entries)
		}
		// Another delivery's files are not this one's.
		if err := s.Put(ctx, id+"x", "metadata.json", meta); err != nil {
			t.Fatal(err)
		}
		if n, err := s.Delete(ctx, id); err != nil || n != 2 {
			t.Fatalf("delete: %d, %v", n, err)
		}
		if keys, _ := s.Keys(ctx, id); len(keys) != 0 {
			t.Fatalf("left after delete: %v", keys)
		}
		if keys, _ := s.Keys(ctx, id+"x"); len(keys) != 1 {
			t.Fatalf("the other delivery's files: %v", keys)
		}
		if n, err := s.Delete(ctx, id); err != nil || n != 0 {
			t.Fatalf("delete again: %d, %v", n, err)
		}
		s.Delete(ctx, id+"x")
		err := s.Fetch(ctx, id, "metadata.json", filepath.Join(dst, "m.json"))
		if !errors.Is(err, workfiles.ErrNotFound) || !strings.Contains(err.Error(), "work/"+id+"/metadata.json") {
			t.Fatalf("fetch of a deleted file: %v", err)
		}
		if _, err := os.Stat(filepath.Join(dst, "m.json")); !os.IsNotExist(err) {
			t.Fatalf("a failed fetch left a file: %v", err)
		}
	})
}

func TestBadInput(t *testing.T) {
	ctx := context.Background()
	if s, err := workfiles.Open(ctx, ""); s != nil || err != nil {
		t.Fatalf("no URL: %v, %v", s, err)
	}
	for u, want := range map[string]string{
		"gs://bucket":         "want file:///dir or s3://bucket",
		"file://host/dir":     "want file:///absolute/dir",
		"file:relative":       "want file:///absolute/dir",
		"s3://?region=x":      "no bucket",
		"file:///dev/null/x/": "not a directory",
		"%zz":                 "invalid URL escape",
	} {
		if _, err := workfiles.Open(ctx, u); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Open(%q) = %v, want an error saying %q", u, err, want)
		}
	}
	s, err := workfiles.Open(ctx, "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f := filepath.Join(t.TempDir(), "f")
	os.WriteFile(f, []byte("x"), 0o644)
	for _, c := range []struct{ id, rel string }{{"", "a"}, {"a/b", "a"}, {"..", "a"}, {"d", "../x"}, {"d", "/etc/passwd"}, {"d", "a/../../b"}, {"d", ""}} {
		if err := s.Put(ctx, c.id, c.rel, f); err == nil || !strings.Contains(err.Error(), "workfiles: bad") {
			t.Errorf("Put(%q, %q) = %v, want a refusal", c.id, c.rel, err)
		}
	}
	if err := s.Put(ctx, "d", "a", filepath.Join(t.TempDir(), "missing")); err == nil || !os.IsNotExist(errors.Unwrap(err)) {
		t.Errorf("Put of a missing local file: %v", err)
	}
}
