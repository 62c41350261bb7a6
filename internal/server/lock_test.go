package server_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/internal/server"
)

// TestDataDirInUse: a second server on a data folder that a running one
// holds is refused with a clear message; once the first stops, it starts.
func TestDataDirInUse(t *testing.T) {
	dir := t.TempDir()
	cfg := server.Config{DataDir: dir, Addr: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	first, err := server.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if second, err := server.Start(context.Background(), cfg); err == nil {
		second.Close(5 * time.Second)
		first.Close(5 * time.Second)
		t.Fatal("a second server started on a data folder in use")
	} else if !strings.Contains(err.Error(), "in use by another syndicate process") {
		t.Errorf("err = %v", err)
	}
	if err := first.Close(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	again, err := server.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("after the first stopped: %v", err)
	}
	again.Close(5 * time.Second)
}
