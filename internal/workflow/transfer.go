package workflow

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/syndicate-media/syndicate/internal/archive"
	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/packaging"
	"github.com/syndicate-media/syndicate/internal/secret"
	"github.com/syndicate-media/syndicate/internal/telemetry"
	"github.com/syndicate-media/syndicate/internal/transport"
	"github.com/syndicate-media/syndicate/internal/workfiles"
)

// transfer is one attempt to send the whole package. It counts the
// attempt, and on failure records the reason before returning it, so an
// operator sees why a delivery is being retried.
func (s *steps) transfer(ctx context.Context, j job, prep packaging.Prepared, plan packaging.Plan) (Result, error) {
	id := j.Delivery.ID
	// After a restart or a takeover the working files may be elsewhere:
	// fetch them from the blob store, else render the metadata again (it
	// is deterministic); a transcoded video cannot be remade here.
	plan.Files = s.localize(id, plan.Files)
	if prep.Video != nil {
		prep.Video = &s.localize(id, []packaging.File{*prep.Video})[0]
	}
	if miss := s.missingWork(id, plan.Files); len(miss) > 0 {
		ferr := s.fetchWork(ctx, id, miss)
		if ferr != nil && prep.Video != nil && len(s.missingWork(id, []packaging.File{*prep.Video})) > 0 {
			if s.blob != nil && !errors.Is(ferr, workfiles.ErrNotFound) {
				return Result{}, ferr // the store did not answer: try again
			}
			return Result{}, transport.Permanent(fmt.Errorf("the transcoded video %s is not on this machine (taken over from another process?): %w; retry the delivery to transcode again", prep.Video.Source, ferr))
		}
		if ferr != nil {
			s.log.Info("rendering work files again", "delivery_id", id, "reason", ferr.Error())
			var err error
			if plan, err = s.build(j, prep); err != nil {
				return Result{}, err
			}
		}
	}
	var total int64
	for _, f := range plan.Files {
		total += f.Size
	}
	d, err := s.store.UpdateDelivery(ctx, id, func(d *domain.Delivery) error {
		d.Attempts++
		d.Bytes, d.Rate, d.TotalBytes = 0, 0, total
		return d.Transition(domain.StatusTransferring, s.store.Now())
	})
	if err != nil {
		return Result{}, err
	}
	log := s.log.With("delivery_id", id, "partner", j.Partner.ID, "attempt", d.Attempts, "trace_id", telemetry.TraceID(d.TraceParent))
	log.Info("transfer started", "files", len(plan.Files)+1)
	var sent atomic.Int64
	stop := s.reportProgress(ctx, id, j.Partner.ID, &sent)
	began := time.Now()
	res, err := send(ctx, log, s.policy, j, plan, &sent)
	stop()
	annotateTransfer(ctx, j, d.Attempts, len(plan.Files)+1, res, sent.Load(), time.Since(began))
	if err != nil && errors.Is(err, errFenced) {
		return res, err // the row is another process's now: write nothing
	}
	if err != nil {
		log.Warn("transfer attempt failed", "error", err, "permanent", transport.IsPermanent(err))
		_, _ = s.store.UpdateDelivery(context.WithoutCancel(ctx), id, func(d *domain.Delivery) error {
			d.LastError = err.Error()
			return nil
		})
	}
	return res, err
}

// reportProgress writes the bytes sent so far to the delivery once a
// second, so the CLI and API show live progress, and counts them in the
// partner's transfer_bytes metric. It returns a stop func.
func (s *steps) reportProgress(ctx context.Context, id, partner string, sent *atomic.Int64) func() {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var last int64
		defer func() { s.telemetry.Metrics().TransferBytes(partner, sent.Load()-last) }()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				n := sent.Load()
				rate := n - last
				last = n
				s.telemetry.Metrics().TransferBytes(partner, rate)
				_, _ = s.store.UpdateDelivery(ctx, id, func(d *domain.Delivery) error {
					if d.Status != domain.StatusTransferring {
						return nil
					}
					d.Bytes, d.Rate = n, rate
					return nil
				})
			}
		}
	}()
	return func() { close(done); <-finished }
}

// send opens the partner's transport and writes every file of the plan,
// then the manifest with the checksums computed on the way.
func send(ctx context.Context, log *slog.Logger, policy *transport.Policy, j job, plan packaging.Plan, sent *atomic.Int64) (Result, error) {
	dest := j.Partner.Target()
	cred, err := secret.Resolve(dest.Credentials)
	if err != nil {
		return Result{}, transport.Permanent(fmt.Errorf("credentials: %w", err))
	}
	tr, err := telemetry.OpenTransport(ctx, dest.URL, transport.Options{
		Secret: cred, HostKey: dest.HostKey, KnownHosts: dest.KnownHosts, InsecureIgnoreHostKey: dest.InsecureIgnoreHostKey,
		Endpoint: dest.Endpoint, Region: dest.Region, UploadTag: shortID(j.Delivery.ID), Policy: policy, Streams: dest.Streams,
	})
	if err != nil {
		return Result{}, err
	}
	defer tr.Close()
	tr = guardTransport(ctx, tr) // each file committed once across attempts and processes (commitguard.go)
	lim := limiter(dest.MaxBytesPerSecond)
	dir := j.Partner.PackageDir(j.Asset.ID, j.Delivery.ID)
	snd := &sender{log: log, tr: tr, lim: lim, sent: sent, tag: shortID(j.Delivery.ID)}
	m := domain.Manifest{DeliveryID: j.Delivery.ID, AssetID: j.Asset.ID, AssetVersion: j.Delivery.AssetVersion,
		PartnerID: j.Partner.ID, Action: j.Delivery.Action}
	if j.Delivery.MetadataOnly() {
		m.Scope = domain.ScopeMetadata
	}
	loc := strings.TrimRight(dest.URL, "/") + "/" + dir
	wantMD5 := j.Partner.Package.WantsMD5()
	if kind := j.Partner.Package.Archive; kind != "" {
		res, err := snd.sendArchive(ctx, kind, dir, j.Asset.ID, m, plan, wantMD5)
		if err == nil {
			err = snd.marker(ctx, j, dir, &res)
		}
		res.Location = loc
		return res, err
	}
	for _, f := range plan.Files {
		var md5h hash.Hash
		if wantMD5 && f.MD5 == "" {
			md5h = md5.New() // for the manifest, beside the sha256, hashed in the pipeline
		}
		sum, _, err := snd.sendFile(ctx, path.Join(dir, f.Name), f, md5h)
		if err != nil {
			return Result{}, err
		}
		md5sum := f.MD5 // known when the metadata format needed it
		if md5h != nil {
			md5sum = hex.EncodeToString(md5h.Sum(nil))
		}
		m.Files = append(m.Files, domain.ManifestFile{Name: f.Name, Role: f.Role, Size: f.Size, MD5: md5sum, SHA256: sum})
		if j.Partner.Package.MD5Sidecars {
			// md5sum's format: `md5sum -c NAME.md5` checks it.
			side := []byte(md5sum + "  " + path.Base(f.Name) + "\n")
			sf := packaging.File{Name: f.Name + ".md5", Role: "md5", Size: int64(len(side))}
			ssum, _, err := snd.put(ctx, path.Join(dir, sf.Name), bytes.NewReader(side), sf)
			if err != nil {
				return Result{}, err
			}
			sm := md5.Sum(side)
			m.Files = append(m.Files, domain.ManifestFile{Name: sf.Name, Role: sf.Role, Size: sf.Size, MD5: hex.EncodeToString(sm[:]), SHA256: ssum})
		}
	}
	body, err := manifestJSON(m)
	if err != nil {
		return Result{}, err
	}
	mf := packaging.File{Name: packaging.ManifestName, Role: "manifest", Size: int64(len(body))}
	if _, _, err := snd.put(ctx, path.Join(dir, mf.Name), bytes.NewReader(body), mf); err != nil {
		return Result{}, err
	}
	res := Result{Files: len(m.Files) + 1, Bytes: m.TotalBytes() + mf.Size, Location: loc}
	return res, snd.marker(ctx, j, dir, &res)
}

// marker writes the profile's completion marker, an empty file, after
// everything else.
func (s *sender) marker(ctx context.Context, j job, dir string, res *Result) error {
	name := j.Partner.Package.CompletionMarker
	if name == "" {
		return nil
	}
	name = strings.NewReplacer("{asset_id}", j.Asset.ID, "{delivery_id}", j.Delivery.ID).Replace(name)
	if err := transport.ValidateName(name); err != nil {
		return transport.Permanent(fmt.Errorf("package.completion_marker: %w", err))
	}
	if _, _, err := s.put(ctx, path.Join(dir, name), bytes.NewReader(nil), packaging.File{Name: name, Role: "marker"}); err != nil {
		return err
	}
	res.Files++
	return nil
}

func manifestJSON(m domain.Manifest) ([]byte, error) {
	body, err := json.MarshalIndent(m, "", "  ")
	return append(body, '\n'), err
}

// sendArchive streams the package as one archive (manifest as its last
// entry), then NAME.sha256 next to it, written last as the completion
// marker. The archive is built while it uploads; a resumed upload builds
// it again and skips what the partner holds.
func (s *sender) sendArchive(ctx context.Context, kind, dir, assetID string, m domain.Manifest, plan packaging.Plan, wantMD5 bool) (Result, error) {
	_, n, marker, err := s.putArchive(ctx, kind, dir, assetID+archive.Ext(kind), m, plan, wantMD5)
	if err != nil {
		return Result{}, err
	}
	return Result{Files: 2, Bytes: n + marker}, nil
}

// putArchive sends the package's archive as dir/name, then its
// NAME.sha256, and returns the archive's sha256 and size and the size of
// NAME.sha256. wantMD5 lists each file's md5 in the manifest too.
func (s *sender) putArchive(ctx context.Context, kind, dir, name string, m domain.Manifest, plan packaging.Plan, wantMD5 bool) (sum string, n, markerSize int64, err error) {
	entries := archiveEntries(plan, wantMD5)
	stream := packageArchive(ctx, kind, m, plan, entries)
	defer stream.Close()
	hint := transport.WithSizeHint(ctx, archive.SizeBound(entries))
	sum, n, err = s.put(hint, path.Join(dir, name), stream, packaging.File{Name: name, Role: "archive", Size: -1})
	if err != nil {
		return "", 0, 0, err
	}
	marker := []byte(sum + "  " + name + "\n") // sha256sum's format: `sha256sum -c` checks it
	mf := packaging.File{Name: name + ".sha256", Role: "checksum", Size: int64(len(marker))}
	if _, _, err := s.put(ctx, path.Join(dir, mf.Name), bytes.NewReader(marker), mf); err != nil {
		return "", 0, 0, err
	}
	return sum, n, mf.Size, nil
}

// packageArchive is the archive of entries (plan's files, archiveEntries)
// with m, completed with their sizes and checksums, as its last entry. The
// manifest lists the md5s packaging knows and those the entries asked for.
func packageArchive(ctx context.Context, kind string, m domain.Manifest, plan packaging.Plan, entries []archive.Entry) io.ReadCloser {
	last := func(sums []archive.Sum) ([]byte, error) {
		mm := m
		for i, f := range plan.Files {
			md5sum := sums[i].MD5
			if f.MD5 != "" { // known from packaging: listed at no cost
				md5sum = f.MD5
			}
			mm.Files = append(mm.Files, domain.ManifestFile{Name: f.Name, Role: f.Role, Size: sums[i].Size, MD5: md5sum, SHA256: sums[i].SHA256})
		}
		return manifestJSON(mm)
	}
	return archive.Stream(ctx, kind, entries, packaging.ManifestName, last)
}

// archiveEntries are plan's files as archive entries, asking for the md5s
// packaging did not compute when wantMD5.
func archiveEntries(plan packaging.Plan, wantMD5 bool) []archive.Entry {
	entries := make([]archive.Entry, len(plan.Files))
	for i, f := range plan.Files {
		entries[i] = archive.Entry{Name: f.Name, Source: f.Source, Size: f.Size, MD5: wantMD5 && f.MD5 == ""}
	}
	return entries
}

// sender writes the files of one delivery attempt.
type sender struct {
	log  *slog.Logger
	tr   transport.Transport
	lim  *rate.Limiter
	sent *atomic.Int64
	// tag makes temporary names unique to the delivery, so a partial file
	// left by another delivery is never mistaken for this one's.
	tag string
}

// sendFile streams one source file to name and returns its sha256 and size.
// When md5h is not nil, it also sees every byte of the file.
func (s *sender) sendFile(ctx context.Context, name string, f packaging.File, md5h hash.Hash) (string, int64, error) {
	src, err := os.Open(f.Source)
	if err != nil {
		return "", 0, transport.Permanent(fmt.Errorf("source %s: %w", f.Name, err))
	}
	defer src.Close()
	if md5h != nil {
		return s.put(ctx, name, src, f, md5h)
	}
	return s.put(ctx, name, src, f)
}

// put writes src to a temporary name, checks size and checksum, and
// renames it into place; a partner never sees a partial file under the
// final name. If the transport holds part of the temporary file from an
// interrupted attempt, it continues from there, hashing the part already
// sent from the local source (a generated stream is generated again). It
// returns the sha256 and size of the whole file; f.Size -1 means the size
// is known only at the end. extra hashes see every byte of the file too.
// The source is read ahead and hashed on goroutines of their own (see
// pipeline), so reading and hashing overlap the transport's work.
func (s *sender) put(ctx context.Context, name string, src io.Reader, f packaging.File, extra ...hash.Hash) (string, int64, error) {
	pl := newPipeline(ctx, src, f.Size, append([]hash.Hash{sha256.New()}, extra...)...)
	defer pl.Close()
	target := name
	rn, canRename := s.tr.(transport.Renamer)
	if canRename {
		target = name + "." + s.tag + ".partial"
	}
	var off int64
	rs, canResume := s.tr.(transport.Resumer)
	committed := false
	if target != name && !(canResume && (f.Size < 0 || f.Size >= keepPartialFrom)) {
		// Nothing would continue this temporary file: remove it if the
		// file does not make it into place.
		defer func() {
			if !committed {
				s.dropPartial(ctx, target)
			}
		}()
	}
	if canResume && f.Size != 0 {
		if n, err := rs.Committed(ctx, target); err == nil && (f.Size < 0 || n <= f.Size) {
			off = n
		}
	}
	if off > 0 {
		if _, err := pl.Discard(off); err != nil {
			if cerr := ctx.Err(); cerr != nil {
				return "", 0, cerr
			}
			return "", 0, transport.Permanent(fmt.Errorf("source %s: %w", f.Name, err))
		}
		s.sent.Add(off)
		s.log.Info("resuming upload", "file", name, "offset", off, "size", f.Size)
	}
	cr := &countingReader{r: pl, ctx: ctx, lim: s.lim, sent: s.sent, n: off}
	var err error
	if off > 0 {
		err = rs.PutFrom(ctx, target, off, cr, f.Size)
	} else {
		err = s.tr.Put(ctx, target, cr, f.Size)
	}
	if err != nil {
		return "", 0, err
	}
	sum := hex.EncodeToString(pl.Sums()[0])
	if f.Size >= 0 && cr.n != f.Size {
		return "", 0, transport.Permanent(fmt.Errorf("source %s changed: read %d bytes, package planned %d", f.Name, cr.n, f.Size))
	}
	if f.SHA256 != "" && sum != f.SHA256 {
		return "", 0, transport.Permanent(fmt.Errorf("source %s: sha256 %s does not match the catalog's %s", f.Name, sum, f.SHA256))
	}
	fi, err := s.tr.Stat(ctx, target)
	if err != nil {
		return "", 0, fmt.Errorf("verify %s: %w", name, err)
	}
	if fi.Size != cr.n {
		return "", 0, fmt.Errorf("verify %s: partner has %d bytes, sent %d", name, fi.Size, cr.n)
	}
	if canRename {
		if err := rn.Rename(ctx, target, name); err != nil {
			return "", 0, err
		}
	}
	committed = true
	return sum, cr.n, nil
}

// keepPartialFrom is the smallest file whose temporary copy a failed put
// leaves at the partner for the next attempt to continue; smaller ones
// (markers, checksums, metadata) are sent again whole.
const keepPartialFrom = 1 << 20

// dropPartial removes the temporary file of a put that failed, so that
// the partner does not find a stray NAME.<tag>.partial (a completion
// marker's, say). It runs even when ctx has ended, briefly; a failure is
// only logged, next to the put's own error.
func (s *sender) dropPartial(ctx context.Context, target string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := s.tr.Remove(ctx, target); err != nil {
		s.log.Warn("could not remove the temporary file of a failed upload", "file", target, "error", err)
	}
}

func shortID(id string) string {
	id = strings.ReplaceAll(id, "-", "")
	return id[max(len(id)-12, 0):]
}

// countingReader counts bytes, honours the partner's rate limit and stops
// when the context ends.
type countingReader struct {
	r    io.Reader
	ctx  context.Context
	lim  *rate.Limiter
	sent *atomic.Int64
	n    int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	if c.lim != nil && len(p) > c.lim.Burst() {
		p = p[:c.lim.Burst()]
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	c.sent.Add(int64(n))
	if c.lim != nil && n > 0 {
		if werr := c.lim.WaitN(c.ctx, n); werr != nil {
			return n, werr
		}
	}
	return n, err
}

// Upload sends one local file through tr exactly as a delivery with the
// default profile does — temporary name, resume, sha256 while streaming,
// size check, rename — and returns its sha256. The bench command measures
// this path. (A profile with manifest_md5 adds an md5 of every byte.)
func Upload(ctx context.Context, log *slog.Logger, tr transport.Transport, name, source string, bytesPerSecond int64) (string, error) {
	fi, err := os.Stat(source)
	if err != nil {
		return "", err
	}
	s := &sender{log: log, tr: tr, lim: limiter(bytesPerSecond), sent: new(atomic.Int64), tag: "bench"}
	sum, _, err := s.sendFile(ctx, name, packaging.File{Name: path.Base(name), Role: "bench", Size: fi.Size(), Source: source}, nil)
	return sum, err
}

// limiter caps a transfer at bytesPerSecond (nil: no cap), with a burst
// of a quarter second so the rate holds at small scales too.
func limiter(bytesPerSecond int64) *rate.Limiter {
	if bytesPerSecond <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(bytesPerSecond), int(min(max(bytesPerSecond/4, 4<<10), 1<<20)))
}

// build plans the delivery's package, rendering into its work folder: a
// takedown is its document alone; a metadata-only update is the full
// plan's metadata document (it still describes the files sent earlier).
func (s *steps) build(j job, prep packaging.Prepared) (packaging.Plan, error) {
	dir := filepath.Join(s.workDir, j.Delivery.ID)
	if j.Delivery.Action == domain.ActionTakedown {
		return packaging.Takedown(dir, j.Asset, j.Partner)
	}
	// Derivatives made by another process (a takeover) are made again
	// here: they are deterministic.
	var err error
	prep.Images, prep.Subtitles = s.localize(j.Delivery.ID, prep.Images), s.localize(j.Delivery.ID, prep.Subtitles)
	if len(s.missingWork(j.Delivery.ID, prep.Images)) > 0 {
		if prep.Images, err = packaging.PrepareImages(dir, j.Asset, j.Partner); err != nil {
			return packaging.Plan{}, err
		}
	}
	if len(s.missingWork(j.Delivery.ID, prep.Subtitles)) > 0 {
		if prep.Subtitles, err = packaging.PrepareSubtitles(dir, j.Asset, j.Partner); err != nil {
			return packaging.Plan{}, err
		}
	}
	plan, err := packaging.Assemble(dir, j.Asset, j.Partner, prep)
	if err == nil && j.Delivery.MetadataOnly() {
		plan = plan.MetadataOnly()
	}
	return plan, err
}
