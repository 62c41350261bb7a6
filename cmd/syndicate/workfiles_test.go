package main_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/syndicate-media/syndicate/client"
	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/store/storetest"
	"github.com/syndicate-media/syndicate/internal/video"
	"github.com/syndicate-media/syndicate/internal/video/videotest"
	"github.com/syndicate-media/syndicate/internal/workfiles"
)

// TestTakeoverFetchesWorkFiles: two workers with their own data folders
// (two machines) share a blob store. The worker sending a transcoded
// video is killed; the other takes the delivery over, fetches the video
// and the metadata from the blob store instead of failing or rendering,
// resumes the upload, and once delivered the working files are gone from
// its folder and from the store. On a folder store always, on S3
// (versitygw) in the full suite. Without a blob store the same takeover
// fails with a clear reason.
func TestTakeoverFetchesWorkFiles(t *testing.T) {
	videotest.Require(t)
	t.Run("fileblob", func(t *testing.T) {
		takeoverWithBlob(t, "file://"+filepath.Join(t.TempDir(), "blobs"))
	})
	t.Run("versitygw", func(t *testing.T) { takeoverWithBlob(t, versityBlobURL(t)) })
	t.Run("none", func(t *testing.T) { takeoverWithBlob(t, "") })
}

// versityBlobURL is scripts/versitygw.sh's server as a --blob URL; its
// keys go to the workers through the AWS environment variables.
func versityBlobURL(t *testing.T) string {
	t.Helper()
	env := map[string]string{}
	for _, k := range []string{"ENDPOINT", "ACCESS_KEY", "SECRET_KEY", "BUCKET"} {
		if env[k] = os.Getenv("SYNDICATE_TEST_S3_" + k); env[k] == "" {
			msg := "SYNDICATE_TEST_S3_" + k + " not set; run scripts/versitygw.sh as root and source the env file it writes"
			if os.Getenv("SYNDICATE_FULL") == "1" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	t.Setenv("AWS_ACCESS_KEY_ID", env["ACCESS_KEY"])
	t.Setenv("AWS_SECRET_ACCESS_KEY", env["SECRET_KEY"])
	return "s3://" + env["BUCKET"] + "?region=us-east-1&use_path_style=true&endpoint=" + env["ENDPOINT"]
}

func takeoverWithBlob(t *testing.T, blobURL string) {
	cfg := storetest.Postgres(t)
	var flags []string
	if blobURL != "" {
		flags = []string{"--blob", blobURL}
	}
	var procs []proc
	dataDirs := []string{t.TempDir(), t.TempDir()}
	for i, dir := range dataDirs {
		procs = append(procs, serveWith(t, dir, cfg.DatabaseURL, append([]string{"--executor-id", fmt.Sprintf("w%d", i+1),
			"--heartbeat", "300ms", "--dead-after", "2s", "--allow-private-destinations"}, flags...)...))
	}
	master := videotest.Clip(t, t.TempDir(), "master.mp4", 4, 1280, 720, "libx264", 2000)
	dest := t.TempDir()
	profile := filepath.Join(t.TempDir(), "vid.yaml")
	os.WriteFile(profile, []byte("id: vid\nname: Vid\nformat: json\ndestination:\n  url: file://"+dest+
		"\n  path: \"{delivery_id}\"\n  max_bytes_per_second: 100000\npackage:\n  video: {preset: h264-480p}\n"), 0o644)
	cli(t, procs[0].url, "partners", "apply", "-f", profile)
	cl := client.New(procs[0].url, token)
	ctx := context.Background()
	if _, err := cl.PutAsset(ctx, domain.Asset{ID: "ep-1", Type: "episode", Title: "Pilot",
		Media: []domain.MediaFile{{Role: "main", URI: master}}}); err != nil {
		t.Fatal(err)
	}
	id := notifyCreate(t, procs[0].url, "--partners", "vid", "ep-1")

	conn, err := pgx.Connect(ctx, cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var owner string
	poll(t, "the transfer to start", func() bool {
		d, _ := cl.Delivery(ctx, id)
		if d.Status.Terminal() {
			t.Fatalf("finished before the kill: %+v", d)
		}
		if d.Status == domain.StatusTransferring && d.Bytes > 0 {
			conn.QueryRow(ctx, `SELECT executor_id FROM dbos.workflow_status WHERE workflow_uuid = $1`, "delivery-"+id).Scan(&owner)
		}
		return owner != ""
	})
	victim := map[string]int{"w1": 0, "w2": 1}[owner]
	procs[victim].cmd.Process.Signal(syscall.SIGKILL)
	procs[victim].cmd.Wait()
	live := procs[1-victim]
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("live worker's log:\n%s", live.log.String())
		}
	})
	d := (&cluster{}).wait(t, live.url, []string{id})[0]
	if blobURL == "" {
		if d.Status != domain.StatusFailed || !strings.Contains(d.LastError, "the transcoded video") ||
			!strings.Contains(d.LastError, "is not on this machine") || !strings.Contains(d.LastError, "no blob store configured") {
			t.Fatalf("without a blob store: %s %q, want a failure naming the missing video", d.Status, d.LastError)
		}
		return
	}
	if d.Status != domain.StatusDelivered || d.Attempts != 2 {
		t.Fatalf("after the takeover: %+v (want delivered on a 2nd attempt)", d)
	}
	logs := live.log.String()
	if !strings.Contains(logs, `"msg":"fetched work files from the blob store"`) || !strings.Contains(logs, `"msg":"resuming upload"`) ||
		strings.Contains(logs, "rendering work files again") {
		t.Fatalf("the live worker did not fetch the work files and resume")
	}
	pkg := filepath.Join(dest, id)
	checkExactly(t, pkg, id)
	if info, err := video.Probe(ctx, filepath.Join(pkg, "main.mp4")); err != nil || info.Height != 480 {
		t.Fatalf("delivered video %+v, %v", info, err)
	}
	blob, err := workfiles.Open(ctx, blobURL)
	if err != nil {
		t.Fatal(err)
	}
	defer blob.Close()
	poll(t, "the work files to be deleted", func() bool {
		keys, err := blob.Keys(ctx, id)
		_, serr := os.Stat(filepath.Join(dataDirs[1-victim], "work", id))
		return err == nil && len(keys) == 0 && os.IsNotExist(serr)
	})
}
