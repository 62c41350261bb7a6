// Package local delivers to a directory on this machine (file:///abs/path).
// It is the reference transport: the conformance suite runs against it
// first, and the demo uses it as one of its partners.
package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"

	"github.com/syndicate-media/syndicate/internal/transport"
)

func init() {
	transport.Register("file", func(_ context.Context, u *url.URL, _ transport.Options) (transport.Transport, error) {
		if u.Host != "" && u.Host != "localhost" {
			return nil, transport.Permanent(fmt.Errorf("local: file URL must not name a remote host, got %q", u.Host))
		}
		return New(u.Path)
	})
}

// Client writes below Root.
type Client struct {
	Root string
}

// New returns a Client rooted at dir, which must be an absolute path. The
// directory is created if missing.
func New(dir string) (*Client, error) {
	if !filepath.IsAbs(dir) {
		return nil, transport.Permanent(fmt.Errorf("local: root %q must be absolute", dir))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("local: %w", err)
	}
	return &Client{Root: dir}, nil
}

func (c *Client) path(name string) (string, error) {
	if err := transport.ValidateName(name); err != nil {
		return "", transport.Permanent(fmt.Errorf("local: %w", err))
	}
	return filepath.Join(c.Root, filepath.FromSlash(name)), nil
}

// Put writes r to name through a file it then closes; the delivery step
// writes to a temporary name and renames, so readers never see a half file.
func (c *Client) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	return c.PutFrom(ctx, name, 0, r, size)
}

// Committed is the file's size: writes are sequential, so every byte
// before the end is there.
func (c *Client) Committed(ctx context.Context, name string) (int64, error) {
	fi, err := c.Stat(ctx, name)
	if errors.Is(err, transport.ErrNotFound) {
		return 0, nil
	}
	return fi.Size, err
}

// PutFrom writes r into name from offset on (0 starts a new file).
func (c *Client) PutFrom(ctx context.Context, name string, offset int64, r io.Reader, size int64) error {
	p, err := c.path(name)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("local: mkdir: %w", err)
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if offset > 0 {
		flags = os.O_WRONLY
	}
	f, err := os.OpenFile(p, flags, 0o644)
	if err != nil {
		return fmt.Errorf("local: create %s: %w", name, err)
	}
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return fmt.Errorf("local: seek %s: %w", name, err)
		}
	}
	if _, err := io.Copy(f, transport.ContextReader(ctx, r)); err != nil {
		f.Close()
		return fmt.Errorf("local: write %s: %w", name, err)
	}
	if size >= 0 {
		if err := f.Truncate(size); err != nil {
			f.Close()
			return fmt.Errorf("local: truncate %s: %w", name, err)
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("local: sync %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("local: close %s: %w", name, err)
	}
	return nil
}

// Stat reports name's size and modification time.
func (c *Client) Stat(_ context.Context, name string) (transport.FileInfo, error) {
	p, err := c.path(name)
	if err != nil {
		return transport.FileInfo{}, err
	}
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return transport.FileInfo{}, fmt.Errorf("local: %s: %w", name, transport.ErrNotFound)
	}
	if err != nil {
		return transport.FileInfo{}, fmt.Errorf("local: stat %s: %w", name, err)
	}
	return transport.FileInfo{Name: name, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// Remove deletes name; a missing file is not an error.
func (c *Client) Remove(_ context.Context, name string) error {
	p, err := c.path(name)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("local: remove %s: %w", name, err)
	}
	return nil
}

// Rename moves from to to, replacing to (rename(2) is atomic on one filesystem).
func (c *Client) Rename(_ context.Context, from, to string) error {
	pf, err := c.path(from)
	if err != nil {
		return err
	}
	pt, err := c.path(to)
	if err != nil {
		return err
	}
	if err := os.Rename(pf, pt); err != nil {
		return fmt.Errorf("local: rename %s: %w", from, err)
	}
	return nil
}

// Open reads name back.
func (c *Client) Open(_ context.Context, name string) (io.ReadCloser, error) {
	p, err := c.path(name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("local: %s: %w", name, transport.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("local: open %s: %w", name, err)
	}
	return f, nil
}

// OpenRange reads length bytes of name from offset (fewer at its end).
func (c *Client) OpenRange(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	rc, err := c.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	f := rc.(*os.File)
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(f, offset, length), f}, nil
}

// Close does nothing: a directory holds no connection.
func (c *Client) Close() error { return nil }

var (
	_ transport.Transport   = (*Client)(nil)
	_ transport.Renamer     = (*Client)(nil)
	_ transport.Opener      = (*Client)(nil)
	_ transport.Resumer     = (*Client)(nil)
	_ transport.RangeOpener = (*Client)(nil)
)
