package server_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/client"
	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/feedback"
	"github.com/syndicate-media/syndicate/internal/server"
	"github.com/syndicate-media/syndicate/internal/store"
	"github.com/syndicate-media/syndicate/internal/transport/sftp/sftpd"
)

// startWithSFTP starts a server on cfg (loopback destinations allowed,
// JSON logs at debug level into logs), an in-process SFTP partner with a
// password login, and a random media file of size bytes; all are closed
// at cleanup.
func startWithSFTP(t *testing.T, cfg store.Config, token string, logs io.Writer, user, password string, size int) (*server.Server, *sftpd.Server, string) {
	t.Helper()
	srv, err := server.Start(context.Background(), server.Config{DataDir: cfg.DataDir, DatabaseURL: cfg.DatabaseURL, Addr: "127.0.0.1:0",
		Token: token, AllowPrivateDestinations: true,
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(5 * time.Second) })
	sftp, err := sftpd.Start(sftpd.Config{Root: t.TempDir(), User: user, Password: password})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sftp.Close() })
	media := filepath.Join(t.TempDir(), "m.mp4")
	b := make([]byte, size)
	rand.Read(b)
	if err := os.WriteFile(media, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return srv, sftp, media
}

// waitGoodAndWrong waits until the "good" partner's delivery is delivered
// and the "wrong" one (a refused login) failed.
func waitGoodAndWrong(t *testing.T, c *client.Client, ids map[string]string) {
	t.Helper()
	ctx := context.Background()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		g, _ := c.Delivery(ctx, ids["good"])
		w, _ := c.Delivery(ctx, ids["wrong"])
		if g.Status == domain.StatusDelivered && w.Status == domain.StatusFailed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries: good %+v, wrong %+v", g, w)
		}
	}
}

// signedFeedback has partner "good" report processed on a delivery with a
// new key of its own and a request signed with secret; it returns the key.
func signedFeedback(t *testing.T, c *client.Client, deliveryID string, secret []byte) string {
	t.Helper()
	ctx := context.Background()
	var key struct{ Key string }
	if err := c.Do(ctx, "POST", "/v1/partners/good/keys", "", nil, &key); err != nil {
		t.Fatal(err)
	}
	fb, _ := json.Marshal(feedback.Report{Status: domain.AckProcessed})
	ts := time.Now().Unix()
	headers := map[string]string{"Syndicate-Timestamp": strconv.FormatInt(ts, 10), "Syndicate-Signature": feedback.Sign(secret, ts, fb)}
	if err := client.New(c.BaseURL, key.Key).DoHeaders(ctx, "POST", "/v1/partner/deliveries/"+deliveryID+"/feedback", headers, fb, nil); err != nil {
		t.Fatal(err)
	}
	return key.Key
}
