package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/syndicate-media/syndicate/client"
	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/intake"
	"github.com/syndicate-media/syndicate/internal/server"
	"github.com/syndicate-media/syndicate/internal/store/storetest"
)

// noLookups is the destination policy's resolver in these tests: any
// lookup fails the test and is refused, so no query leaves the machine.
type noLookups struct {
	t     *testing.T
	mu    sync.Mutex
	asked []string
}

func (r *noLookups) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	r.asked = append(r.asked, host)
	r.mu.Unlock()
	r.t.Errorf("the destination policy looked up %q", host)
	return nil, &net.DNSError{Err: "lookups refused by the test", Name: host, IsNotFound: true}
}

// s3Target is an S3 endpoint on loopback with a bucket to deliver into.
type s3Target struct {
	endpoint, access, secret, bucket string
}

func (s s3Target) client() *awss3.Client {
	return awss3.New(awss3.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(s.access, s.secret, "")})
}

// deliveryBucket is the bucket the tests deliver into: a valid S3 bucket
// name that no resolver knows as a host.
const deliveryBucket = "deliveries-bucket"

// TestS3ThroughServe delivers a package with a completion marker through
// the server assembly to S3 with a bucket name that is not a host name,
// allowlisted as s3://BUCKET@HOST, with the destination policy's resolver
// failing the test on any lookup: in-process gofakes3, and versitygw
// (scripts/versitygw.sh) in the full suite.
func TestS3ThroughServe(t *testing.T) {
	t.Run("gofakes3", func(t *testing.T) {
		backend := s3mem.New()
		ts := httptest.NewServer(gofakes3.New(backend).Server())
		t.Cleanup(ts.Close)
		if err := backend.CreateBucket(deliveryBucket); err != nil {
			t.Fatal(err)
		}
		deliverToS3(t, s3Target{endpoint: ts.URL, access: "AKIDSERVE", secret: "serve/s3cr3t", bucket: deliveryBucket})
	})
	t.Run("versitygw", func(t *testing.T) {
		s := s3Target{endpoint: os.Getenv("SYNDICATE_TEST_S3_ENDPOINT"), access: os.Getenv("SYNDICATE_TEST_S3_ACCESS_KEY"),
			secret: os.Getenv("SYNDICATE_TEST_S3_SECRET_KEY"), bucket: deliveryBucket}
		if s.endpoint == "" || s.access == "" || s.secret == "" {
			msg := "SYNDICATE_TEST_S3_* not set; run scripts/versitygw.sh as root and source the env file it writes"
			if os.Getenv("SYNDICATE_FULL") == "1" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
		_, err := s.client().CreateBucket(context.Background(), &awss3.CreateBucketInput{Bucket: aws.String(s.bucket)})
		var ae smithy.APIError
		if err != nil && !(errors.As(err, &ae) && (ae.ErrorCode() == "BucketAlreadyOwnedByYou" || ae.ErrorCode() == "BucketAlreadyExists")) {
			t.Fatalf("create bucket %s: %v", s.bucket, err)
		}
		deliverToS3(t, s)
	})
}

func deliverToS3(t *testing.T, s s3Target) {
	cfg := storetest.SQLite(t)
	const token = "s3-serve-test-token-0123456789"
	resolver := &noLookups{t: t}
	var logs syncBuffer
	srv, err := server.Start(context.Background(), server.Config{DataDir: cfg.DataDir, Addr: "127.0.0.1:0", Token: token,
		AllowPrivateDestinations: true, AllowedDestinations: []string{"s3://" + s.bucket + "@127.0.0.1"},
		DestinationResolver: resolver, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(5 * time.Second) })
	c := client.New(srv.URL, token)
	ctx := context.Background()
	t.Setenv("SYN_S3_SERVE_KEYS", s.access+":"+s.secret)
	prefix := "drop-" + time.Now().Format("20060102-150405.000000")
	p := domain.Partner{ID: "objects", Name: "Objects", Format: "json",
		Destination: domain.Destination{URL: "s3://" + s.bucket + "/" + prefix, Endpoint: s.endpoint, Credentials: "env:SYN_S3_SERVE_KEYS"},
		Package:     domain.Package{CompletionMarker: "{asset_id}.done"}}
	body, _ := json.Marshal(p)
	if _, err := c.PutPartner(ctx, p.ID, body, "application/json"); err != nil {
		t.Fatal(err)
	}
	media := make([]byte, 3<<20+17)
	rand.Read(media)
	mediaPath := filepath.Join(t.TempDir(), "m.mp4")
	if err := os.WriteFile(mediaPath, media, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutAsset(ctx, domain.Asset{ID: "ep-7", Type: "clip", Title: "T", Media: []domain.MediaFile{{Role: "main", URI: mediaPath}}}); err != nil {
		t.Fatal(err)
	}
	resp, err := c.Notify(ctx, intake.Request{AssetID: "ep-7", Partners: intake.Partners{All: true}})
	if err != nil {
		t.Fatal(err)
	}
	waitDelivered(t, c, resp.Decisions[0].DeliveryID)
	if len(resolver.asked) != 0 {
		t.Fatalf("looked up %q", resolver.asked)
	}
	// What the partner holds, read with a plain S3 client.
	for key, want := range map[string][]byte{"ep-7/main.mp4": media, "ep-7/ep-7.done": {}} {
		out, err := s.client().GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(prefix + "/" + key)})
		if err != nil {
			t.Fatalf("get %s: %v", key, err)
		}
		got, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: %d bytes (%v), want %d", key, len(got), err, len(want))
		}
	}
	if strings.Contains(logs.String(), s.secret) {
		t.Fatal("the S3 secret key is in the logs")
	}
}
