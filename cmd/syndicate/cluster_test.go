package main_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/syndicate-media/syndicate/client"
	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/intake"
	"github.com/syndicate-media/syndicate/internal/store/storetest"
	"github.com/syndicate-media/syndicate/internal/transport/sftp/sftpd"
)

// cluster starts n worker processes on one PostgreSQL database and an
// in-process SFTP partner they all deliver to.
type cluster struct {
	procs []proc
	db    string
	sftp  *sftpd.Server
	root  string
	media string
}

func startCluster(t *testing.T, n int) *cluster { return startClusterOn(t, n, false) }

// startClusterOn is startCluster with the partner "wide" on the real
// OpenSSH sshd of the full suite (scripts/sshd.sh) when openssh is set:
// c.root is then the partner's folder on that server.
func startClusterOn(t *testing.T, n int, openssh bool) *cluster {
	cfg := storetest.Postgres(t)
	c := &cluster{db: cfg.DatabaseURL, root: t.TempDir()}
	var url, keyFile, hostKey string
	if openssh {
		addr, root := requireOpenSSH(t)
		dir, err := os.MkdirTemp(root, "cluster-")
		if err != nil {
			t.Fatal(err)
		}
		os.Chmod(dir, 0o777) // sshd writes as its test user
		t.Cleanup(func() { os.RemoveAll(dir) })
		c.root = dir
		url = "sftp://" + os.Getenv("SYNDICATE_TEST_SSHD_USER") + "@" + addr + dir
		keyFile, hostKey = os.Getenv("SYNDICATE_TEST_SSHD_KEY"), os.Getenv("SYNDICATE_TEST_SSHD_HOSTKEY")
	} else {
		signer, pemKey, err := sftpd.GenerateClientKey()
		if err != nil {
			t.Fatal(err)
		}
		if c.sftp, err = sftpd.Start(sftpd.Config{Root: c.root, User: "w", AuthorizedKey: signer.PublicKey()}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.sftp.Close() })
		keyFile = filepath.Join(t.TempDir(), "key")
		os.WriteFile(keyFile, pemKey, 0o600)
		url, hostKey = "sftp://w@"+c.sftp.Addr()+"/in", c.sftp.HostKeyFingerprint()
	}
	for i := range n {
		c.procs = append(c.procs, serveWith(t, t.TempDir(), cfg.DatabaseURL, "--executor-id", fmt.Sprintf("w%d", i+1),
			"--heartbeat", "300ms", "--dead-after", "2s", "--allow-private-destinations"))
	}
	c.media = filepath.Join(t.TempDir(), "m.mxf")
	b := make([]byte, 3<<20)
	rand.Read(b)
	os.WriteFile(c.media, b, 0o644)
	profile := filepath.Join(t.TempDir(), "p.yaml")
	os.WriteFile(profile, []byte(fmt.Sprintf(`id: wide
name: Wide
format: json
concurrency: 2
destination:
  url: %s
  credentials: file:%s
  host_key: %s
  path: "{delivery_id}"
  max_bytes_per_second: 1000000
`, url, keyFile, hostKey)), 0o644)
	cli(t, c.procs[0].url, "partners", "apply", "-f", profile)
	return c
}

// requireOpenSSH returns scripts/sshd.sh's server address and root; it
// skips without one (fails in the full suite).
func requireOpenSSH(t *testing.T) (addr, root string) {
	t.Helper()
	addr, root = os.Getenv("SYNDICATE_TEST_SSHD_ADDR"), os.Getenv("SYNDICATE_TEST_SSHD_ROOT")
	if addr == "" {
		if os.Getenv("SYNDICATE_FULL") == "1" {
			t.Fatal("SYNDICATE_FULL=1 but no sshd: run scripts/sshd.sh and source its env file")
		}
		t.Skip("no OpenSSH sshd (set SYNDICATE_TEST_SSHD_* via scripts/sshd.sh)")
	}
	return addr, root
}

func (c *cluster) notify(t *testing.T, partner string, assets ...string) []string {
	cl := client.New(c.procs[0].url, token)
	var ids []string
	for _, a := range assets {
		if _, err := cl.PutAsset(context.Background(), domain.Asset{ID: a, Type: "clip", Title: a,
			Media: []domain.MediaFile{{Role: "main", URI: c.media}}}); err != nil {
			t.Fatal(err)
		}
		resp, err := cl.Notify(context.Background(), intake.Request{AssetID: a, Partners: intake.Partners{IDs: []string{partner}}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, resp.Decisions[0].DeliveryID)
	}
	return ids
}

func (c *cluster) wait(t *testing.T, url string, ids []string) []domain.Delivery {
	cl := client.New(url, token)
	out := make([]domain.Delivery, len(ids))
	for i, id := range ids {
		for deadline := time.Now().Add(45 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			d, err := cl.Delivery(context.Background(), id)
			if err == nil && d.Status.Terminal() {
				out[i] = d
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("delivery %s not finished: %+v %v", id, d, err)
			}
		}
	}
	return out
}

// TestPartnerLimitAcrossProcesses: three workers, a partner limited to 2
// transfers at once — the SFTP server never has more than 2 uploads open.
func TestPartnerLimitAcrossProcesses(t *testing.T) {
	c := startCluster(t, 3)
	ids := c.notify(t, "wide", "a", "b", "c", "d", "e", "f")
	for _, d := range c.wait(t, c.procs[0].url, ids) {
		if d.Status != domain.StatusDelivered {
			t.Fatalf("%+v", d)
		}
	}
	if n := c.sftp.MaxOpenWrites(); n != 2 {
		t.Fatalf("the partner's server saw %d uploads at once, want exactly 2 (its limit)", n)
	}
	execs := map[string]bool{}
	conn, err := pgx.Connect(context.Background(), c.db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, _ := conn.Query(context.Background(), `SELECT DISTINCT executor_id FROM dbos.workflow_status`)
	for rows.Next() {
		var e string
		rows.Scan(&e)
		execs[e] = true
	}
	t.Logf("deliveries ran on %d executors: %v", len(execs), execs)
}

// TestDeadWorkerTakeover kills the worker running a transfer and never
// restarts it: a live worker takes the delivery over, resumes the upload,
// and the package lands exactly once.
func TestDeadWorkerTakeover(t *testing.T) {
	c := startCluster(t, 3)
	// A folder partner: the remote size is exactly what was written, so the
	// taken-over upload continues where the dead worker stopped.
	dest := t.TempDir()
	profile := filepath.Join(t.TempDir(), "local.yaml")
	os.WriteFile(profile, []byte("id: folder\nname: Folder\nformat: json\ndestination:\n  url: file://"+dest+
		"\n  path: \"{delivery_id}\"\n  max_bytes_per_second: 1000000\n"), 0o644)
	cli(t, c.procs[0].url, "partners", "apply", "-f", profile)
	c.killOwnerMidTransfer(t, "folder", dest, true)
}

// TestDeadWorkerTakeoverOpenSSH is TestDeadWorkerTakeover delivering to
// the real OpenSSH sshd (full suite). The SFTP transport resumes only
// below what it sent minus its window of concurrent writes (16 MiB), so
// this 3 MiB upload starts over under its temporary name.
func TestDeadWorkerTakeoverOpenSSH(t *testing.T) {
	c := startClusterOn(t, 3, true)
	c.killOwnerMidTransfer(t, "wide", c.root, false)
}

// TestPartnerLimitAcrossProcessesOpenSSH is TestPartnerLimitAcrossProcesses
// against the real OpenSSH sshd (full suite). The limit is counted at the
// server: every 10 ms the test lists the partner's folder on the sshd
// machine and counts the files still under a temporary name (*.partial:
// an upload open and not yet renamed into place). Each transfer writes
// one file at a time, so that count is the number of uploads at once.
func TestPartnerLimitAcrossProcessesOpenSSH(t *testing.T) {
	c := startClusterOn(t, 3, true)
	stop, done := make(chan struct{}), make(chan struct{})
	peak := 0
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			n := 0
			filepath.WalkDir(c.root, func(p string, e os.DirEntry, err error) error {
				if err == nil && !e.IsDir() && strings.HasSuffix(p, ".partial") {
					n++
				}
				return nil
			})
			peak = max(peak, n)
		}
	}()
	ids := c.notify(t, "wide", "a", "b", "c", "d", "e", "f")
	ds := c.wait(t, c.procs[0].url, ids)
	close(stop)
	<-done
	for _, d := range ds {
		if d.Status != domain.StatusDelivered {
			t.Fatalf("%+v", d)
		}
		checkExactly(t, filepath.Join(c.root, d.ID), d.ID)
	}
	if peak != 2 {
		t.Fatalf("sshd's folder held %d uploads in progress at once, want exactly 2 (the partner's limit)", peak)
	}
}

// killOwnerMidTransfer notifies one asset to partner, SIGKILLs the worker
// transferring it, never restarts it, and checks a live worker finished
// it on a second attempt (resuming the upload if wantResume), with the
// package exactly once in dest/<delivery-id>.
func (c *cluster) killOwnerMidTransfer(t *testing.T, partner, dest string, wantResume bool) {
	ids := c.notify(t, partner, "slow")
	conn, err := pgx.Connect(context.Background(), c.db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	cl := client.New(c.procs[0].url, token)
	var owner string
	for deadline := time.Now().Add(30 * time.Second); owner == ""; time.Sleep(50 * time.Millisecond) {
		d, _ := cl.Delivery(context.Background(), ids[0])
		if d.Status == domain.StatusTransferring && d.Bytes > 1<<20 {
			conn.QueryRow(context.Background(), `SELECT executor_id FROM dbos.workflow_status WHERE workflow_uuid = $1`,
				"delivery-"+ids[0]).Scan(&owner)
		}
		if d.Status.Terminal() || time.Now().After(deadline) {
			t.Fatalf("never caught the transfer: %+v", d)
		}
	}
	victim := -1
	for i := range c.procs {
		if fmt.Sprintf("w%d", i+1) == owner {
			victim = i
		}
	}
	if victim < 0 {
		t.Fatalf("unknown owner %q", owner)
	}
	c.procs[victim].cmd.Process.Signal(syscall.SIGKILL)
	c.procs[victim].cmd.Wait()
	live := c.procs[(victim+1)%3]
	t.Cleanup(func() {
		if t.Failed() {
			for i, p := range c.procs {
				if i != victim {
					t.Logf("worker w%d log:\n%s", i+1, p.log.String())
				}
			}
		}
	})
	d := c.wait(t, live.url, ids)[0]
	if d.Status != domain.StatusDelivered || d.Attempts != 2 {
		t.Fatalf("after the worker died: %+v (want delivered on a 2nd attempt)", d)
	}
	var newOwner string
	conn.QueryRow(context.Background(), `SELECT executor_id FROM dbos.workflow_status WHERE workflow_uuid = $1`, "delivery-"+ids[0]).Scan(&newOwner)
	if newOwner == owner || newOwner == "" {
		t.Fatalf("the workflow still belongs to the dead worker %q", newOwner)
	}
	logs := ""
	for i, p := range c.procs {
		if i != victim {
			logs += p.log.String()
		}
	}
	if !strings.Contains(logs, "took over dead executors") || wantResume && !strings.Contains(logs, `"msg":"resuming upload"`) {
		t.Fatalf("no takeover with resume in the live workers' logs:\n%s", logs)
	}
	checkExactly(t, filepath.Join(dest, ids[0]), ids[0])
}
