//go:build unix

package bench

import "syscall"

// syncDisks writes every dirty page to disk and waits (sync(2)).
func syncDisks() { syscall.Sync() }
