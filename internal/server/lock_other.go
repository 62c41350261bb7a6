//go:build !unix

package server

import "os"

// lockDataDir does nothing where flock(2) does not exist: a second server
// on the same data folder is not detected there.
func lockDataDir(dir string) (*os.File, error) { return nil, os.MkdirAll(dir, 0o700) }
