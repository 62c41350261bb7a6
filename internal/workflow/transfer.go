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
	"slices"
	"strings"
	"sync"
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
	refused := func(c context.Context, name string) error {
		_, err := s.store.UpdateDelivery(context.WithoutCancel(c), id, func(d *domain.Delivery) error {
			if !slices.Contains(d.ResumeRefused, name) {
				d.ResumeRefused = append(d.ResumeRefused, name)
			}
			return nil
		})
		return err
	}
	res, err := send(ctx, log, s.policy, j, plan, &sent, resumeState{refused: d.ResumeRefused, refuse: refused})
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

// resumeState is what a delivery remembers about resuming: the files
// whose resume the partner refused (sent whole from now on), and how to
// add one, persisted so that no later attempt or process asks for the
// same offset again.
type resumeState struct {
	refused []string
	refuse  func(ctx context.Context, name string) error
}

// send opens the partner's transport and writes every file of the plan,
// then the manifest with the checksums computed on the way. The result
// lists how each file was verified at the partner.
func send(ctx context.Context, log *slog.Logger, policy *transport.Policy, j job, plan packaging.Plan, sent *atomic.Int64, rs resumeState) (Result, error) {
	res, files, err := sendAll(ctx, log, policy, j, plan, sent, rs)
	if err == nil {
		res.Verified = files
	}
	return res, err
}

func sendAll(ctx context.Context, log *slog.Logger, policy *transport.Policy, j job, plan packaging.Plan, sent *atomic.Int64, rs resumeState) (Result, []domain.VerifiedFile, error) {
	dest := j.Partner.Target()
	cred, err := secret.Resolve(dest.Credentials)
	if err != nil {
		return Result{}, nil, transport.Permanent(fmt.Errorf("credentials: %w", err))
	}
	tr, err := telemetry.OpenTransport(ctx, dest.URL, transport.Options{
		Secret: cred, HostKey: dest.HostKey, KnownHosts: dest.KnownHosts, InsecureIgnoreHostKey: dest.InsecureIgnoreHostKey,
		Endpoint: dest.Endpoint, Region: dest.Region, UploadTag: shortID(j.Delivery.ID), Policy: policy, Streams: dest.Streams,
	})
	if err != nil {
		return Result{}, nil, err
	}
	defer tr.Close()
	tr = guardTransport(ctx, tr) // each file committed once across attempts and processes (commitguard.go)
	lim := limiter(dest.MaxBytesPerSecond)
	dir := j.Partner.PackageDir(j.Asset.ID, j.Delivery.ID)
	snd := &sender{log: log, tr: tr, lim: lim, sent: sent, tag: shortID(j.Delivery.ID), guard: guardOf(ctx),
		dir: dir, noResume: map[string]bool{}, refuse: rs.refuse}
	for _, name := range rs.refused {
		snd.noResume[name] = true
	}
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
		return res, snd.files, err
	}
	for _, f := range plan.Files {
		var md5h hash.Hash
		if wantMD5 && f.MD5 == "" {
			md5h = md5.New() // for the manifest, beside the sha256, hashed in the pipeline
		}
		sum, _, err := snd.sendFile(ctx, path.Join(dir, f.Name), f, md5h)
		if err != nil {
			return Result{}, nil, err
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
			ssum, _, err := snd.put(ctx, path.Join(dir, sf.Name), fromBytes(side), sf)
			if err != nil {
				return Result{}, nil, err
			}
			sm := md5.Sum(side)
			m.Files = append(m.Files, domain.ManifestFile{Name: sf.Name, Role: sf.Role, Size: sf.Size, MD5: hex.EncodeToString(sm[:]), SHA256: ssum})
		}
	}
	body, err := manifestJSON(m)
	if err != nil {
		return Result{}, nil, err
	}
	mf := packaging.File{Name: packaging.ManifestName, Role: "manifest", Size: int64(len(body))}
	if _, _, err := snd.put(ctx, path.Join(dir, mf.Name), fromBytes(body), mf); err != nil {
		return Result{}, nil, err
	}
	res := Result{Files: len(m.Files) + 1, Bytes: m.TotalBytes() + mf.Size, Location: loc}
	err = snd.marker(ctx, j, dir, &res)
	return res, snd.files, err
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
	if _, _, err := s.put(ctx, path.Join(dir, name), fromBytes(nil), packaging.File{Name: name, Role: "marker"}); err != nil {
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
	// Built again from its sources if it must be sent again from the start.
	stream := func() (io.ReadCloser, error) { return packageArchive(ctx, kind, m, plan, entries), nil }
	hint := transport.WithSizeHint(ctx, archive.SizeBound(entries))
	sum, n, err = s.put(hint, path.Join(dir, name), stream, packaging.File{Name: name, Role: "archive", Size: -1})
	if err != nil {
		return "", 0, 0, err
	}
	marker := []byte(sum + "  " + name + "\n") // sha256sum's format: `sha256sum -c` checks it
	mf := packaging.File{Name: name + ".sha256", Role: "checksum", Size: int64(len(marker))}
	if _, _, err := s.put(ctx, path.Join(dir, mf.Name), fromBytes(marker), mf); err != nil {
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
	// guard is the delivery's commit guard (nil for bench uploads).
	guard *commitGuard
	// dir is the package's folder below the destination: the names in
	// files are relative to it.
	dir string
	// noResume holds the names to send whole: their resume was refused.
	// refuse persists a new one (nil: nothing persists).
	noResume map[string]bool
	refuse   func(ctx context.Context, name string) error
	// files is how each file sent so far was verified at the partner.
	files []domain.VerifiedFile
}

// fromBytes is a source of b, for put.
func fromBytes(b []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

// sendFile streams one source file to name and returns its sha256 and size.
// When md5h is not nil, it also sees every byte of the file.
func (s *sender) sendFile(ctx context.Context, name string, f packaging.File, md5h hash.Hash) (string, int64, error) {
	open := func() (io.ReadCloser, error) {
		src, err := os.Open(f.Source)
		if err != nil {
			return nil, transport.Permanent(fmt.Errorf("source %s: %w", f.Name, err))
		}
		return src, nil
	}
	if md5h != nil {
		return s.put(ctx, name, open, f, md5h)
	}
	return s.put(ctx, name, open, f)
}

// mismatchError is a file the partner was found not to hold as sent.
type mismatchError struct {
	name    string
	resumed int64 // the resume offset of the upload checked, 0 if none
	what    string
}

func (e *mismatchError) Error() string {
	return fmt.Sprintf("verify %s: %s", e.name, e.what)
}

// put sends a file to name and returns its sha256 and size (f.Size -1:
// known only at the end); extra hashes see every byte of the file too.
// open opens the source from its start, again if the file must be sent
// again (a generated stream is generated again).
//
// The file is delivered only once the partner is seen to hold it (verify);
// a partner that refuses a resume, or holds other bytes than were sent,
// gets the whole file once more, from the start, and that file is never
// resumed again in this delivery.
func (s *sender) put(ctx context.Context, name string, open func() (io.ReadCloser, error), f packaging.File, extra ...hash.Hash) (string, int64, error) {
	if how, ok := s.guard.committedBefore(name); ok {
		if how != "" { // committed and verified by an earlier attempt
			sum, n, _, err := s.putOnce(ctx, name, open, f, false, extra)
			if err == nil {
				s.note(name, f, sum, n, transport.Verification(how))
			}
			return sum, n, err
		}
		// Committed, but whether the partner holds it right was never
		// seen (the process stopped in between): send it again.
		if err := s.guard.uncommit(ctx, name); err != nil {
			return "", 0, err
		}
	}
	whole, resent := s.noResume[name], false
	sent := s.sent.Load()
	for {
		sum, n, how, err := s.putOnce(ctx, name, open, f, !whole, extra)
		if err == nil {
			s.guard.recordVerified(ctx, name, string(how))
			s.note(name, f, sum, n, how)
			return sum, n, nil
		}
		var mm *mismatchError
		var resumeFailed bool // the partner cannot be resumed onto: remember it
		switch {
		case errors.Is(err, transport.ErrResumeRefused) && !whole:
			s.log.Warn("the partner did not take the rest of the file where it stopped; sending the whole file again", "file", name, "reason", err.Error())
			resumeFailed = true
		case errors.As(err, &mm) && !resent:
			s.log.Warn("the partner does not hold the file as sent; sending it again from the start", "file", name, "reason", err.Error())
			if uerr := s.guard.uncommit(ctx, name); uerr != nil {
				return "", 0, fmt.Errorf("%w (and forgetting its commit failed: %w)", err, uerr)
			}
			resent, resumeFailed = true, mm.resumed > 0
		default:
			return "", 0, err
		}
		whole = true
		s.sent.Store(sent)
		if resumeFailed && !s.noResume[name] {
			s.noResume[name] = true
			if s.refuse != nil {
				if perr := s.refuse(ctx, name); perr != nil {
					return "", 0, fmt.Errorf("%w (and recording it failed: %w)", err, perr)
				}
			}
		}
	}
}

// note adds how name was verified to the delivery's record.
func (s *sender) note(name string, f packaging.File, sum string, n int64, how transport.Verification) {
	rel := strings.TrimPrefix(name, s.dir+"/")
	if s.dir == "" || rel == name {
		rel = f.Name
	}
	s.files = append(s.files, domain.VerifiedFile{Name: rel, Size: n, SHA256: sum, Verified: string(how)})
}

// putOnce writes the source to a temporary name, checks size and
// checksum, renames it into place (a partner never sees a partial file
// under the final name) and verifies what the partner holds there. If
// resume is set and the transport holds part of the temporary file from
// an interrupted attempt, it continues from there, hashing the part
// already sent from the local source, after checking that the bytes just
// before the resume offset are the source's. The source is read ahead and
// hashed on goroutines of their own (see pipeline), so reading and
// hashing overlap the transport's work.
func (s *sender) putOnce(ctx context.Context, name string, open func() (io.ReadCloser, error), f packaging.File, resume bool, extra []hash.Hash) (string, int64, transport.Verification, error) {
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
	if resume && canResume && f.Size != 0 {
		if n, err := rs.Committed(ctx, target); err == nil && (f.Size < 0 || n <= f.Size) {
			off = n
		}
	}
	src, err := open()
	if err != nil {
		return "", 0, "", err
	}
	defer src.Close()
	for _, h := range extra {
		h.Reset() // a file sent again is hashed again
	}
	sm := &seam{r: src, at: off}
	pl := newPipeline(ctx, sm, f.Size, append([]hash.Hash{sha256.New()}, extra...)...)
	defer pl.Close() // before src.Close
	if off > 0 {
		if _, err := pl.Discard(off); err != nil {
			if cerr := ctx.Err(); cerr != nil {
				return "", 0, "", cerr
			}
			return "", 0, "", transport.Permanent(fmt.Errorf("source %s: %w", f.Name, err))
		}
		if canRename { // the partial is a file of its own (an S3 upload's parts are not)
			if err := s.checkTail(ctx, target, sm); err != nil {
				return "", 0, "", err
			}
		}
		s.sent.Add(off)
		s.log.Info("resuming upload", "file", name, "offset", off, "size", f.Size)
	}
	cr := &countingReader{r: pl, ctx: ctx, lim: s.lim, sent: s.sent, n: off}
	if off > 0 {
		err = rs.PutFrom(ctx, target, off, cr, f.Size)
	} else {
		err = s.tr.Put(ctx, target, cr, f.Size)
	}
	if err != nil {
		return "", 0, "", err
	}
	sum := hex.EncodeToString(pl.Sums()[0])
	if f.Size >= 0 && cr.n != f.Size {
		return "", 0, "", transport.Permanent(fmt.Errorf("source %s changed: read %d bytes, package planned %d", f.Name, cr.n, f.Size))
	}
	if f.SHA256 != "" && sum != f.SHA256 {
		return "", 0, "", transport.Permanent(fmt.Errorf("source %s: sha256 %s does not match the catalog's %s", f.Name, sum, f.SHA256))
	}
	fi, err := s.tr.Stat(ctx, target)
	if err != nil {
		return "", 0, "", fmt.Errorf("verify %s: %w", name, err)
	}
	if fi.Size != cr.n {
		return "", 0, "", &mismatchError{name: name, resumed: off, what: fmt.Sprintf("partner has %d bytes, sent %d", fi.Size, cr.n)}
	}
	if canRename {
		if err := rn.Rename(ctx, target, name); err != nil {
			return "", 0, "", err
		}
	}
	if _, skipped := s.guard.committedBefore(name); skipped {
		committed = true
		return sum, cr.n, "", nil // nothing was sent: verified by the attempt that sent it
	}
	how, err := s.verify(ctx, name, sum, cr.n, sm)
	committed = err == nil
	return sum, cr.n, how, err
}

// seamBlock is how much of a resumed file is read back at each place the
// check looks: the first block, and either side of the resume offset. Small,
// so that verifying costs round trips, not throughput.
const seamBlock = 64 << 10

// checkTail reads back the block just before the resume offset of the
// temporary file and compares it with the source, where the transport
// can read ranges: a partial file that holds enough bytes but other ones
// (written by something else, or zeros) is not resumed onto.
func (s *sender) checkTail(ctx context.Context, target string, sm *seam) error {
	ro, ok := transport.As[transport.RangeOpener](s.tr)
	if !ok {
		return nil
	}
	want := sm.tail()
	got, err := readRange(ctx, ro, target, sm.at-int64(len(want)), int64(len(want)))
	if errors.Is(err, transport.ErrNotFound) {
		return nil // gone since: PutFrom finds out
	}
	if err != nil {
		return fmt.Errorf("check the partial %s before resuming: %w", target, err)
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("the partial %s does not hold the source's bytes before offset %d: %w", target, sm.at, transport.ErrResumeRefused)
	}
	return nil
}

// verify checks what the partner holds at the final name: its size, then
// the server's sha256 where the transport offers one, else (for a resumed
// upload) the seam read back, else the size alone is the check.
func (s *sender) verify(ctx context.Context, name, sum string, n int64, sm *seam) (transport.Verification, error) {
	fi, err := s.tr.Stat(ctx, name)
	if err != nil {
		return "", fmt.Errorf("verify %s: %w", name, err)
	}
	if fi.Size != n {
		return "", &mismatchError{name: name, resumed: sm.at, what: fmt.Sprintf("partner holds %d bytes at the final name, sent %d", fi.Size, n)}
	}
	if cs, ok := transport.As[transport.Checksummer](s.tr); ok {
		got, ok, err := cs.ServerSHA256(ctx, name)
		if err != nil {
			return "", fmt.Errorf("verify %s: ask the server for its sha256: %w", name, err)
		}
		if ok {
			if g := hex.EncodeToString(got); g != sum {
				return "", &mismatchError{name: name, resumed: sm.at, what: fmt.Sprintf("the server's sha256 is %s, sent %s", g, sum)}
			}
			return transport.VerifiedServerSHA256, nil
		}
	}
	ro, ok := transport.As[transport.RangeOpener](s.tr)
	if sm.at == 0 || !ok {
		return transport.VerifiedSize, nil
	}
	for _, r := range sm.ranges() {
		got, err := readRange(ctx, ro, name, r.off, int64(len(r.want)))
		if err != nil {
			return "", fmt.Errorf("verify %s: read back bytes %d-%d: %w", name, r.off, r.off+int64(len(r.want)), err)
		}
		if !bytes.Equal(got, r.want) {
			return "", &mismatchError{name: name, resumed: sm.at, what: fmt.Sprintf("bytes %d-%d read back differ from the source (resumed at %d)", r.off, r.off+int64(len(r.want)), sm.at)}
		}
	}
	return transport.VerifiedSeam, nil
}

// readRange reads length bytes of name from off.
func readRange(ctx context.Context, ro transport.RangeOpener, name string, off, length int64) ([]byte, error) {
	rc, err := ro.OpenRange(ctx, name, off, length)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, length))
}

// seam wraps a source and keeps the bytes a resumed upload's checks read
// back: the first block and the blocks either side of the resume offset
// at (0: not resumed, only the first block). The pipeline reads it on
// its own goroutine.
type seam struct {
	r  io.Reader
	at int64

	mu                   sync.Mutex
	pos                  int64
	first, before, after []byte
}

func (s *seam) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.mu.Lock()
	start := s.pos
	s.pos += int64(n)
	s.first = keepRange(s.first, p[:n], start, 0, seamBlock)
	if s.at > 0 {
		s.before = keepRange(s.before, p[:n], start, s.at-seamBlock, s.at)
		s.after = keepRange(s.after, p[:n], start, s.at, s.at+seamBlock)
	}
	s.mu.Unlock()
	return n, err
}

// keepRange appends to dst the part of b, which starts at offset start of
// the file, that lies within [lo, hi).
func keepRange(dst, b []byte, start, lo, hi int64) []byte {
	lo, hi = max(lo, start, 0), min(hi, start+int64(len(b)))
	if lo >= hi {
		return dst
	}
	return append(dst, b[lo-start:hi-start]...)
}

// tail is the block before the resume offset: complete once the
// pipeline has handed out the bytes up to it.
func (s *seam) tail() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.before)
}

// seamRange is bytes the partner must hold at off.
type seamRange struct {
	off  int64
	want []byte
}

// ranges are the places verify reads back once the file is sent.
func (s *seam) ranges() []seamRange {
	s.mu.Lock()
	defer s.mu.Unlock()
	around := append(slices.Clone(s.before), s.after...)
	return []seamRange{{0, slices.Clone(s.first)}, {s.at - int64(len(s.before)), around}}
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
	s := &sender{log: log, tr: tr, lim: limiter(bytesPerSecond), sent: new(atomic.Int64), tag: "bench", noResume: map[string]bool{}}
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
