package local_test

import (
	"testing"

	"github.com/syndicate-media/syndicate/internal/transport"
	"github.com/syndicate-media/syndicate/internal/transport/local"
	"github.com/syndicate-media/syndicate/internal/transport/transporttest"
)

func TestConformance(t *testing.T) {
	transporttest.Run(t, func(t *testing.T) transport.Transport {
		c, err := local.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return c
	})
}

func TestRelativeRootRefused(t *testing.T) {
	if _, err := local.New("relative/dir"); err == nil || !transport.IsPermanent(err) {
		t.Fatalf("New(relative) = %v, want a permanent error", err)
	}
}
