// Package demo runs Syndicate end to end on one machine with nothing
// installed: a server on the embedded default (SQLite, local work dir), an
// in-process SFTP server and a local folder as two partners, a generated
// sample catalog, live progress, and a final check that every file at each
// partner matches its manifest's sha256.
package demo

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/syndicate-media/syndicate/client"
	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/intake"
	"github.com/syndicate-media/syndicate/internal/secret"
	"github.com/syndicate-media/syndicate/internal/server"
	"github.com/syndicate-media/syndicate/internal/transport"
	"github.com/syndicate-media/syndicate/internal/transport/sftp/sftpd"
)

// Options tune the demo.
type Options struct {
	// Dir holds everything; a new temporary directory if empty.
	Dir string
	// Assets is the number of sample assets (default 3).
	Assets int
	// MediaBytes is each media file's size (default 4 MiB).
	MediaBytes int
	// Keep leaves the server running until ctx ends.
	Keep bool
	Out  io.Writer
}

// Run runs the demo and returns nil only if every delivery succeeded and
// every file at the partners matches the manifest.
func Run(ctx context.Context, o Options) error {
	o.defaults()
	start := time.Now()
	if o.Dir == "" {
		d, err := os.MkdirTemp("", "syndicate-demo-")
		if err != nil {
			return err
		}
		o.Dir = d
	}
	fmt.Fprintf(o.Out, "Syndicate demo in %s\n", o.Dir)
	logf, err := os.Create(filepath.Join(o.Dir, "server.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	token := randomToken()
	log := slog.New(slog.NewJSONHandler(logf, nil))
	tc, err := startTranscoder(log) // nil without ffmpeg: the video part is skipped
	if err != nil {
		return err
	}
	defer tc.close()
	cfg := server.Config{DataDir: filepath.Join(o.Dir, "data"), Addr: "127.0.0.1:0", Token: token, SweepInterval: 200 * time.Millisecond,
		AllowPrivateDestinations: true, // the demo's partners run on this machine
		Logger:                   log}
	if tc != nil {
		cfg.TranscoderURL = tc.url
	}
	srv, err := server.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() { srv.Close(10 * time.Second) }()
	cfg.Addr = strings.TrimPrefix(srv.URL, "http://") // a restart keeps the address
	sftpRoot := filepath.Join(o.Dir, "partners", "streamco-sftp")
	sftpSrv, profiles, err := startPartners(o.Dir, sftpRoot)
	if err != nil {
		return err
	}
	defer sftpSrv.Close()
	fmt.Fprintf(o.Out, "Server    %s (SQLite in %s)\nPartners  streamco: sftp://demo@%s  (in-process SFTP, key auth, pinned host key)\n          archive:  %s\n",
		srv.URL, filepath.Join(o.Dir, "data"), sftpSrv.Addr(), profiles[1].Destination.URL)
	c := client.New(srv.URL, token)
	for _, p := range profiles {
		body, _ := json.Marshal(p)
		if _, err := c.PutPartner(ctx, p.ID, body, "application/json"); err != nil {
			return fmt.Errorf("partner %s: %w", p.ID, err)
		}
	}
	assets, err := sampleCatalog(filepath.Join(o.Dir, "catalog"), o.Assets, o.MediaBytes)
	if err != nil {
		return err
	}
	var ids []string
	for _, a := range assets {
		if _, err := c.PutAsset(ctx, a); err != nil {
			return fmt.Errorf("asset %s: %w", a.ID, err)
		}
		resp, err := c.Notify(ctx, intake.Request{AssetID: a.ID, Partners: intake.Partners{All: true}, IdempotencyKey: "demo-" + a.ID})
		if err != nil {
			return fmt.Errorf("notify %s: %w", a.ID, err)
		}
		for _, d := range resp.Decisions {
			ids = append(ids, d.DeliveryID)
		}
	}
	fmt.Fprintf(o.Out, "Catalog   %d assets, %d deliveries queued\n\n", len(assets), len(ids))
	final, err := watch(ctx, c, ids, o.Out)
	if err != nil {
		return err
	}
	failures := verify(ctx, final, profiles)
	final, err = feedbackRoundTrip(ctx, c, final, profiles, failures)
	if err != nil {
		return err
	}
	fmt.Fprintln(o.Out, "\nFeedback  streamco answered through the feedback API with its own key; archive dropped status.json receipts the server read.")
	if tc == nil {
		fmt.Fprintln(o.Out, "\nVideo     skipped: ffmpeg is not installed (apt-get install ffmpeg shows a transcode through an external service and a restart)")
	} else {
		restart := func() error {
			if err := srv.Close(10 * time.Second); err != nil {
				return err
			}
			srv, err = server.Start(ctx, cfg)
			return err
		}
		d, p, err := videoDelivery(ctx, o, c, func() *server.Server { return srv }, restart)
		if err != nil {
			return err
		}
		final = append(final, d)
		profiles = append(profiles, p)
		for id, why := range verify(ctx, []domain.Delivery{d}, []domain.Partner{p}) {
			failures[id] = why
		}
	}
	report(o.Out, final, failures)
	fmt.Fprintf(o.Out, "\nFiles landed in:\n  %s\n", sftpRoot)
	for _, p := range profiles[1:] {
		fmt.Fprintf(o.Out, "  %s\n", p.Destination.URL)
	}
	fmt.Fprintf(o.Out, "Demo took %.1fs.\n", time.Since(start).Seconds())
	if o.Keep {
		fmt.Fprintf(o.Out, "\nServer still running (Ctrl-C to stop):\n  export SYNDICATE_URL=%s SYNDICATE_TOKEN=%s\n  go run ./cmd/syndicate deliveries list\n", srv.URL, token)
		<-ctx.Done()
	}
	if len(failures) > 0 {
		return fmt.Errorf("%d of %d deliveries failed or did not match their manifest", len(failures), len(final))
	}
	return nil
}

func (o *Options) defaults() {
	if o.Assets <= 0 {
		o.Assets = 3
	}
	if o.MediaBytes <= 0 {
		o.MediaBytes = 4 << 20
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
}

// startPartners starts the SFTP partner and returns both partner profiles.
func startPartners(dir, sftpRoot string) (*sftpd.Server, []domain.Partner, error) {
	signer, pemKey, err := sftpd.GenerateClientKey()
	if err != nil {
		return nil, nil, err
	}
	keyFile := filepath.Join(dir, "keys", "streamco_ed25519")
	if err := os.MkdirAll(filepath.Dir(keyFile), 0o700); err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(keyFile, pemKey, 0o600); err != nil {
		return nil, nil, err
	}
	srv, err := sftpd.Start(sftpd.Config{Root: sftpRoot, User: "demo", AuthorizedKey: signer.PublicKey()})
	if err != nil {
		return nil, nil, err
	}
	localDir := filepath.Join(dir, "partners", "archive-local")
	return srv, []domain.Partner{
		{ID: "streamco", Name: "StreamCo (SFTP)", Format: "json", Destination: domain.Destination{
			URL: "sftp://demo@" + srv.Addr() + "/incoming", Credentials: "file:" + keyFile, HostKey: srv.HostKeyFingerprint()}},
		{ID: "archive", Name: "Archive (local folder)", Format: "json", Destination: domain.Destination{URL: "file://" + localDir},
			Feedback: domain.Feedback{Receipt: &domain.Receipt{Name: "status.json", Format: "json"}}},
	}, nil
}

// watch polls until every delivery is terminal, drawing one progress line.
func watch(ctx context.Context, c *client.Client, ids []string, out io.Writer) ([]domain.Delivery, error) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(5 * time.Minute)
	last := ""
	for {
		all := make([]domain.Delivery, 0, len(ids))
		counts := map[domain.Status]int{}
		var bytes int64
		for _, id := range ids {
			d, err := c.Delivery(ctx, id)
			if err != nil {
				return nil, err
			}
			all = append(all, d)
			counts[d.Status]++
			bytes += d.Bytes
		}
		var parts []string
		for _, s := range domain.Statuses {
			if counts[s] > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", s, counts[s]))
			}
		}
		line := fmt.Sprintf("  %s  |  %.1f MB sent", strings.Join(parts, ", "), float64(bytes)/1e6)
		if line != last {
			fmt.Fprintln(out, line)
			last = line
		}
		if counts[domain.StatusDelivered]+counts[domain.StatusFailed]+counts[domain.StatusCancelled] == len(ids) {
			return all, nil
		}
		if time.Now().After(deadline) {
			return all, errors.New("deliveries did not finish within 5 minutes")
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
}

// verify reads every delivered package back from its partner and compares
// each file with the manifest. It returns a reason per failed delivery.
func verify(ctx context.Context, ds []domain.Delivery, partners []domain.Partner) map[string]string {
	bad := map[string]string{}
	byID := map[string]domain.Partner{}
	for _, p := range partners {
		p.Defaults()
		byID[p.ID] = p
	}
	for _, d := range ds {
		if d.Status != domain.StatusDelivered {
			bad[d.ID] = fmt.Sprintf("%s: %s", d.Status, d.LastError)
			continue
		}
		if err := verifyPackage(ctx, byID[d.PartnerID], d); err != nil {
			bad[d.ID] = err.Error()
		}
	}
	return bad
}

func verifyPackage(ctx context.Context, p domain.Partner, d domain.Delivery) error {
	cred, err := secret.Resolve(p.Destination.Credentials)
	if err != nil {
		return err
	}
	tr, err := transport.Open(ctx, p.Destination.URL, transport.Options{Secret: cred, HostKey: p.Destination.HostKey})
	if err != nil {
		return err
	}
	defer tr.Close()
	op := tr.(transport.Opener)
	dir := p.PackageDir(d.AssetID, d.ID)
	var m domain.Manifest
	if err := readJSON(ctx, op, dir+"/manifest.json", &m); err != nil {
		return err
	}
	if m.DeliveryID != d.ID {
		return fmt.Errorf("manifest is for delivery %s", m.DeliveryID)
	}
	for _, f := range m.Files {
		rc, err := op.Open(ctx, dir+"/"+f.Name)
		if err != nil {
			return err
		}
		h := sha256.New()
		n, err := io.Copy(h, rc)
		rc.Close()
		if err != nil {
			return err
		}
		if n != f.Size || hex.EncodeToString(h.Sum(nil)) != f.SHA256 {
			return fmt.Errorf("%s: sha256 or size differs from the manifest", f.Name)
		}
	}
	return nil
}

func readJSON(ctx context.Context, op transport.Opener, name string, v any) error {
	rc, err := op.Open(ctx, name)
	if err != nil {
		return err
	}
	defer rc.Close()
	return json.NewDecoder(rc).Decode(v)
}

func report(out io.Writer, ds []domain.Delivery, failures map[string]string) {
	fmt.Fprintln(out)
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "DELIVERY\tASSET\tPARTNER\tSTATUS\tFILES\tBYTES\tSECONDS\tCHECK\tPARTNER ACK\n")
	for _, d := range ds {
		check := "sha256 ok"
		if why, bad := failures[d.ID]; bad {
			check = "FAILED: " + why
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%d\t%.2f\t%s\t%s\n", d.ID, d.AssetID, d.PartnerID, d.Status, d.Files, d.Bytes, d.Seconds(), check, ackText(d))
	}
	w.Flush()
}

func randomToken() string {
	b := make([]byte, 24)
	if _, err := io.ReadFull(rand.Reader, b); err != nil {
		panic(err)
	}
	return "syn_" + hex.EncodeToString(b)
}
