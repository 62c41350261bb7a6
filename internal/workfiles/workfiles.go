// Package workfiles keeps copies of a delivery's working files — the
// rendered metadata and the transcoded video — in a blob store shared by
// every process (gocloud.dev/blob: a folder with fileblob, or S3 with
// s3blob), under work/<delivery-id>/…. A process that takes a delivery
// over from another fetches them instead of rendering again, and instead
// of failing for a transcoded video it cannot remake without transcoding.
package workfiles

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/s3blob" // s3:// URLs, on aws-sdk-go-v2
	"gocloud.dev/gcerrors"
)

// ErrNotFound: the blob store has no such working file.
var ErrNotFound = errors.New("workfiles: not in the blob store")

// Store is a delivery working-file store. Its methods are safe for
// concurrent use.
type Store struct {
	b    *blob.Bucket
	desc string
}

// Open opens the blob store at rawURL: file:///abs/dir (created if
// missing) or s3://bucket?region=…&endpoint=…&use_path_style=true (AWS
// credentials from the default chain: environment, shared config, task
// or pod role). The empty URL means no blob store: Open returns nil.
func Open(ctx context.Context, rawURL string) (*Store, error) {
	if rawURL == "" {
		return nil, nil
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("blob store: %w", err)
	}
	desc := u.Scheme + "://" + u.Host + u.Path // the query may hold settings, never credentials, but keep logs short
	var b *blob.Bucket
	switch u.Scheme {
	case "file":
		if u.Host != "" || !filepath.IsAbs(u.Path) {
			return nil, fmt.Errorf("blob store %s: want file:///absolute/dir", rawURL)
		}
		if err := os.MkdirAll(u.Path, 0o750); err != nil {
			return nil, fmt.Errorf("blob store %s: %w", desc, err)
		}
		// Temporary files next to the final ones, so they rename on one
		// file system even when the store is a mounted volume.
		b, err = fileblob.OpenBucket(u.Path, &fileblob.Options{NoTempDir: true, Metadata: fileblob.MetadataDontWrite})
	case "s3":
		if u.Host == "" {
			return nil, fmt.Errorf("blob store %s: no bucket", rawURL)
		}
		b, err = blob.OpenBucket(ctx, rawURL)
	default:
		return nil, fmt.Errorf("blob store %q: want file:///dir or s3://bucket?region=…", rawURL)
	}
	if err != nil {
		return nil, fmt.Errorf("blob store %s: %w", desc, err)
	}
	return &Store{b: b, desc: desc}, nil
}

// String names the store for logs (scheme, bucket or folder).
func (s *Store) String() string { return s.desc }

// Close releases the store.
func (s *Store) Close() error { return s.b.Close() }

// key is the blob key of a delivery's working file rel (slash-separated,
// relative to the delivery's work folder).
func key(deliveryID, rel string) (string, error) {
	rel = filepath.ToSlash(rel)
	if deliveryID == "" || strings.ContainsAny(deliveryID, `/\`) || deliveryID == "." || deliveryID == ".." {
		return "", fmt.Errorf("workfiles: bad delivery id %q", deliveryID)
	}
	if rel == "" || path.IsAbs(rel) || path.Clean(rel) != rel || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("workfiles: bad file name %q", rel)
	}
	return "work/" + deliveryID + "/" + rel, nil
}

// Put copies the local file to the delivery's working file rel.
func (s *Store) Put(ctx context.Context, deliveryID, rel, local string) error {
	k, err := key(deliveryID, rel)
	if err != nil {
		return err
	}
	f, err := os.Open(local)
	if err != nil {
		return fmt.Errorf("workfiles: %w", err)
	}
	defer f.Close()
	if err := s.b.Upload(ctx, k, f, &blob.WriterOptions{ContentType: "application/octet-stream"}); err != nil {
		return fmt.Errorf("workfiles: put %s to %s: %w", k, s.desc, err)
	}
	return nil
}

// Fetch copies the delivery's working file rel to local (its folder is
// created), through a temporary file renamed into place, so a cut
// download never leaves a short file under the final name. A missing
// file is ErrNotFound.
func (s *Store) Fetch(ctx context.Context, deliveryID, rel, local string) error {
	k, err := key(deliveryID, rel)
	if err != nil {
		return err
	}
	r, err := s.b.NewReader(ctx, k, nil)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return fmt.Errorf("%w: %s in %s", ErrNotFound, k, s.desc)
	}
	if err != nil {
		return fmt.Errorf("workfiles: get %s from %s: %w", k, s.desc, err)
	}
	defer r.Close()
	if err := os.MkdirAll(filepath.Dir(local), 0o750); err != nil {
		return fmt.Errorf("workfiles: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(local), ".fetch-*")
	if err != nil {
		return fmt.Errorf("workfiles: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	n, err := io.Copy(tmp, r)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != r.Size() {
		err = fmt.Errorf("read %d of %d bytes", n, r.Size())
	}
	if err != nil {
		return fmt.Errorf("workfiles: get %s from %s: %w", k, s.desc, err)
	}
	if err := os.Rename(tmp.Name(), local); err != nil {
		return fmt.Errorf("workfiles: %w", err)
	}
	return nil
}

// Delete removes every working file of the delivery and returns how many
// there were. Deleting files that are not there is not an error.
func (s *Store) Delete(ctx context.Context, deliveryID string) (int, error) {
	prefix, err := key(deliveryID, "x")
	if err != nil {
		return 0, err
	}
	prefix = strings.TrimSuffix(prefix, "x")
	it := s.b.List(&blob.ListOptions{Prefix: prefix})
	n := 0
	for {
		o, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("workfiles: list %s in %s: %w", prefix, s.desc, err)
		}
		if err := s.b.Delete(ctx, o.Key); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
			return n, fmt.Errorf("workfiles: delete %s in %s: %w", o.Key, s.desc, err)
		}
		n++
	}
}

// Keys lists the delivery's working files in the store (relative names,
// sorted), for tests and operators.
func (s *Store) Keys(ctx context.Context, deliveryID string) ([]string, error) {
	prefix, err := key(deliveryID, "x")
	if err != nil {
		return nil, err
	}
	prefix = strings.TrimSuffix(prefix, "x")
	var out []string
	it := s.b.List(&blob.ListOptions{Prefix: prefix})
	for {
		o, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("workfiles: list %s in %s: %w", prefix, s.desc, err)
		}
		out = append(out, strings.TrimPrefix(o.Key, prefix))
	}
}
