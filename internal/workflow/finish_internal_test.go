package workflow

import (
	"context"
	"database/sql"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/packaging"
	"github.com/syndicate-media/syndicate/internal/store/storetest"
)

// TestTransferReplayAfterFinishSendsNothing: the transfer step of a plain
// delivery also finishes it and removes its commit records and working
// files, so a replay of the step (a crash after finishing, before its
// checkpoint) must not send again: it finds the delivery delivered and
// answers what was delivered, without opening the destination.
func TestTransferReplayAfterFinishSendsNothing(t *testing.T) {
	st := storetest.Open(t, storetest.SQLite(t))
	ctx := context.Background()
	now := time.Now().UTC()
	d := domain.Delivery{ID: "d1", AssetID: "ep-1", AssetVersion: 1, PartnerID: "acme", Action: domain.ActionCreate,
		Status: domain.StatusDelivered, Files: 3, Bytes: 42, Location: "file:///partners/acme/d1", CreatedAt: now, UpdatedAt: now}
	if err := st.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error { return st.InsertDelivery(ctx, tx, d) }); err != nil {
		t.Fatal(err)
	}
	s := &steps{store: st, workDir: t.TempDir(), log: slog.New(slog.DiscardHandler)}
	// A destination that cannot be reached and a file that does not
	// exist: any attempt to send fails the step.
	j := job{Delivery: d, Partner: domain.Partner{ID: "acme", Destination: domain.Destination{URL: "sftp://127.0.0.1:1/nowhere"}}}
	plan := packaging.Plan{Files: []packaging.File{{Source: filepath.Join(t.TempDir(), "missing.mp4"), Name: "missing.mp4", Size: 42}}}
	res, err := s.transferAndFinish(ctx, j, packaging.Prepared{}, plan, "delivery-d1", 0)
	if err != nil {
		t.Fatalf("replay after finish: %v", err)
	}
	if !res.Finished || res.Files != 3 || res.Bytes != 42 || res.Location != d.Location {
		t.Fatalf("replay answered %+v, want the delivered row's files, bytes and location, finished", res)
	}
}
