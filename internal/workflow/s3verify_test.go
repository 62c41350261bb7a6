package workflow_test

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/intake"
	"github.com/syndicate-media/syndicate/internal/store/storetest"
	"github.com/syndicate-media/syndicate/internal/transport"
	_ "github.com/syndicate-media/syndicate/internal/transport/s3" // registers s3://
)

// TestDeliverToS3Verified delivers to S3: files of up to one part go with
// their sha256, and a server that keeps checksums (versitygw, in the full
// suite) reports it back, so each file is verified "sha256 by server";
// gofakes3, which names no checksum type, leaves the size as the check.
func TestDeliverToS3Verified(t *testing.T) {
	t.Run("gofakes3", func(t *testing.T) {
		backend := s3mem.New()
		ts := httptest.NewServer(gofakes3.New(backend).Server())
		t.Cleanup(ts.Close)
		if err := backend.CreateBucket("deliveries"); err != nil {
			t.Fatal(err)
		}
		deliverS3(t, ts.URL, "AKIDTEST:secret", "deliveries", transport.VerifiedSize)
	})
	t.Run("versitygw", func(t *testing.T) {
		env := map[string]string{}
		for _, k := range []string{"ENDPOINT", "ACCESS_KEY", "SECRET_KEY", "BUCKET"} {
			if env[k] = os.Getenv("SYNDICATE_TEST_S3_" + k); env[k] == "" {
				if os.Getenv("SYNDICATE_FULL") == "1" {
					t.Fatal("SYNDICATE_TEST_S3_" + k + " not set; run scripts/versitygw.sh")
				}
				t.Skip("SYNDICATE_TEST_S3_" + k + " not set; run scripts/versitygw.sh")
			}
		}
		deliverS3(t, env["ENDPOINT"], env["ACCESS_KEY"]+":"+env["SECRET_KEY"], env["BUCKET"], transport.VerifiedServerSHA256)
	})
}

func deliverS3(t *testing.T, endpoint, cred, bucket string, want transport.Verification) {
	e := start(t, storetest.SQLite(t))
	credFile := filepath.Join(t.TempDir(), "cred")
	os.WriteFile(credFile, []byte(cred+"\n"), 0o600)
	e.partner(t, "s3p", "s3://"+bucket+"/"+filepath.Base(t.TempDir()), func(p *domain.Partner) {
		p.Destination.Endpoint = endpoint
		p.Destination.Credentials = "file:" + credFile
	})
	e.asset(t, "ep-1", "Pilot")
	resp, err := e.intake.Notify(context.Background(), intake.Request{AssetID: "ep-1", Partners: intake.Partners{All: true}})
	if err != nil {
		t.Fatal(err)
	}
	d := waitTerminal(t, e.store, resp.Decisions[0].DeliveryID)
	if d.Status != domain.StatusDelivered {
		t.Fatalf("delivery %s: %s", d.Status, d.LastError)
	}
	if len(d.VerifiedFiles) != d.Files {
		t.Fatalf("%d files verified of %d: %+v", len(d.VerifiedFiles), d.Files, d.VerifiedFiles)
	}
	for _, f := range d.VerifiedFiles {
		if f.Verified != string(want) {
			t.Fatalf("%s verified %q, want %q", f.Name, f.Verified, want)
		}
	}
}
