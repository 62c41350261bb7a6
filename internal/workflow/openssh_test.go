package workflow_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/intake"
	"github.com/syndicate-media/syndicate/internal/store/storetest"
	_ "github.com/syndicate-media/syndicate/internal/transport/sftp"
)

// TestDeliverToOpenSSH delivers a package to a real OpenSSH sshd (started
// by scripts/sshd.sh in the full suite) on both databases.
func TestDeliverToOpenSSH(t *testing.T) {
	addr, root := os.Getenv("SYNDICATE_TEST_SSHD_ADDR"), os.Getenv("SYNDICATE_TEST_SSHD_ROOT")
	if addr == "" {
		if os.Getenv("SYNDICATE_FULL") == "1" {
			t.Fatal("SYNDICATE_FULL=1 but no sshd: run scripts/sshd.sh and source its env file")
		}
		t.Skip("no OpenSSH sshd (set SYNDICATE_TEST_SSHD_* via scripts/sshd.sh)")
	}
	for name, cfg := range storetest.Dialects(t) {
		t.Run(name, func(t *testing.T) {
			e := start(t, cfg)
			dir, err := os.MkdirTemp(root, "e2e-")
			if err != nil {
				t.Fatal(err)
			}
			os.Chmod(dir, 0o777) // sshd writes as the test user
			t.Cleanup(func() { os.RemoveAll(dir) })
			e.partner(t, "openssh", "sftp://"+os.Getenv("SYNDICATE_TEST_SSHD_USER")+"@"+addr+dir, func(p *domain.Partner) {
				p.Destination.Credentials = "file:" + os.Getenv("SYNDICATE_TEST_SSHD_KEY")
				p.Destination.HostKey = os.Getenv("SYNDICATE_TEST_SSHD_HOSTKEY")
			})
			e.asset(t, "ep-1", "Pilot")
			resp, err := e.intake.Notify(context.Background(), intake.Request{AssetID: "ep-1", Partners: intake.Partners{All: true}})
			if err != nil {
				t.Fatal(err)
			}
			d := waitTerminal(t, e.store, resp.Decisions[0].DeliveryID)
			if d.Status != domain.StatusDelivered {
				t.Fatalf("delivery: %+v", d)
			}
			checkPackage(t, filepath.Join(dir, "ep-1"))
		})
	}
}
