//go:build unix

package server

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockDataDir takes an exclusive lock on DIR/syndicate.lock for as long as
// the process holds the returned file: two servers on one data folder
// would share its SQLite file and work folder behind each other's back.
// The kernel drops the lock when the process ends, SIGKILL included, so a
// crash never leaves a stale lock.
func lockDataDir(dir string) (*os.File, error) {
	if dir == "" {
		return nil, nil // no data folder (PostgreSQL with a work folder elsewhere): nothing to share
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	path := filepath.Join(dir, "syndicate.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder, _ := os.ReadFile(path)
			return nil, fmt.Errorf("data dir %s is in use by another syndicate process (pid %s); stop it, or give this one its own --data-dir",
				dir, string(holder))
		}
		return nil, fmt.Errorf("data dir: lock %s: %w", path, err)
	}
	f.Truncate(0)
	fmt.Fprintf(f, "%d", os.Getpid())
	return f, nil
}
