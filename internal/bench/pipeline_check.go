package bench

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/syndicate-media/syndicate/internal/domain"
)

// sampleEvery is how often the delivered count is read while a run goes.
const sampleEvery = 50 * time.Millisecond

// sampler reads the deliveries' counts from the database every
// sampleEvery and keeps the longest time the finished count (delivered +
// failed) did not move while deliveries were still expected.
type sampler struct {
	db       *sql.DB
	expected int
	maxStall time.Duration
}

type snapshot struct {
	delivered, failed, open, total int
	lastFinished                   time.Time
}

func newSampler(db *sql.DB, expected int) *sampler { return &sampler{db: db, expected: expected} }

func (s *sampler) sample(ctx context.Context) (snapshot, error) {
	var sn snapshot
	rows, err := s.db.QueryContext(ctx, `SELECT status, count(*) FROM syn_deliveries GROUP BY status`)
	if err != nil {
		return sn, err
	}
	defer rows.Close()
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return sn, err
		}
		sn.total += n
		switch domain.Status(st) {
		case domain.StatusDelivered:
			sn.delivered = n
		case domain.StatusFailed, domain.StatusCancelled:
			sn.failed += n
		default:
			sn.open += n
		}
	}
	return sn, rows.Err()
}

// run samples until every expected delivery finished and none is open,
// or ctx ends. Once killAfter deliveries are done it calls kill (once).
func (s *sampler) run(ctx context.Context, killAfter int, kill func(context.Context) error) error {
	last, lastMove := -1, time.Now()
	var failingSince time.Time
	killed := false
	t := time.NewTicker(sampleEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		sn, err := s.sample(ctx)
		now := time.Now()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if failingSince.IsZero() {
				failingSince = now
			} else if now.Sub(failingSince) > 30*time.Second {
				return fmt.Errorf("reading the deliveries' progress: %w", err)
			}
			continue
		}
		failingSince = time.Time{}
		done := sn.delivered + sn.failed
		if done != last {
			last, lastMove = done, now
		} else if done < s.expected {
			s.maxStall = max(s.maxStall, now.Sub(lastMove))
		}
		if done >= s.expected && sn.open == 0 {
			return nil
		}
		if kill != nil && !killed && sn.delivered >= killAfter {
			killed = true
			if err := kill(ctx); err != nil {
				return fmt.Errorf("kill and restart: %w", err)
			}
		}
	}
}

// final is the last sample, with the time the last delivery finished.
func (s *sampler) final(ctx context.Context) (snapshot, error) {
	sn, err := s.sample(ctx)
	if err != nil {
		return sn, fmt.Errorf("bench pipeline: counting deliveries: %w", err)
	}
	var last sql.NullString
	if err := s.db.QueryRowContext(ctx, `SELECT MAX(finished_at) FROM syn_deliveries WHERE status = 'delivered'`).Scan(&last); err != nil {
		return sn, fmt.Errorf("bench pipeline: last delivery: %w", err)
	}
	if last.Valid {
		t, err := time.Parse(time.RFC3339Nano, last.String)
		if err != nil {
			return sn, fmt.Errorf("bench pipeline: finished_at %q: %w", last.String, err)
		}
		sn.lastFinished = t
	}
	return sn, nil
}

// missingNotifications counts acknowledged notifications whose row is
// not in the database (or holds another notification id).
func missingNotifications(ctx context.Context, db *sql.DB, prefix string, acked map[string]string) (int, error) {
	// prefix is the bench's own hex: safe to inline, and it keeps the
	// query free of dialect-specific placeholders.
	rows, err := db.QueryContext(ctx, `SELECT idempotency_key, id FROM syn_notifications WHERE substr(idempotency_key, 1, `+
		strconv.Itoa(len(prefix))+`) = '`+prefix+`'`)
	if err != nil {
		return 0, fmt.Errorf("bench pipeline: notification rows: %w", err)
	}
	defer rows.Close()
	stored := map[string]string{}
	for rows.Next() {
		var k, id string
		if err := rows.Scan(&k, &id); err != nil {
			return 0, err
		}
		stored[k] = id
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	missing := 0
	for k, id := range acked {
		if got, ok := stored[k]; !ok || got != id {
			missing++
		}
	}
	return missing, nil
}

// partnerCheck is what the partner folders hold against what was expected.
type partnerCheck struct {
	missing, duplicates int
	problems            []string
}

func (c *partnerCheck) problem(format string, a ...any) {
	if len(c.problems) < 10 {
		c.problems = append(c.problems, fmt.Sprintf(format, a...))
	}
}

type pair struct{ asset, partner string }

// checkPartners counts, in each partner's folder, the delivery folders
// whose manifest.json lists exactly the files beside it with the right
// size and sha256 (the media file's against the source's). Expected: every
// asset × partner not failed, or after a timeout the deliveries the
// database calls delivered.
func checkPartners(ctx context.Context, db *sql.DB, root string, cfg PipelineConfig, sums []string, timedOut bool) (partnerCheck, error) {
	var pc partnerCheck
	status := map[pair]string{}
	rows, err := db.QueryContext(ctx, `SELECT asset_id, partner_id, status FROM syn_deliveries`)
	if err != nil {
		return pc, fmt.Errorf("bench pipeline: deliveries: %w", err)
	}
	for rows.Next() {
		var p pair
		var st string
		if err := rows.Scan(&p.asset, &p.partner, &st); err != nil {
			rows.Close()
			return pc, err
		}
		if status[p] != string(domain.StatusDelivered) {
			status[p] = st
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return pc, err
	}
	found := map[pair]int{}
	for j := range cfg.Partners {
		dir := filepath.Join(root, partnerID(j))
		ents, err := os.ReadDir(dir)
		if err != nil {
			return pc, err
		}
		for _, e := range ents {
			m, err := checkFolder(filepath.Join(dir, e.Name()), partnerID(j), sums)
			if err != nil {
				pc.problem("%s/%s: %v", partnerID(j), e.Name(), err)
				continue
			}
			found[pair{m.AssetID, partnerID(j)}]++
		}
	}
	for i := range cfg.Assets {
		for j := range cfg.Partners {
			p := pair{assetID(i), partnerID(j)}
			st := status[p]
			want := st == string(domain.StatusDelivered) || !timedOut && st != string(domain.StatusFailed) && st != string(domain.StatusCancelled)
			switch n := found[p]; {
			case n == 0 && want:
				pc.missing++
				pc.problem("%s at %s: not at the partner (delivery %s)", p.asset, p.partner, orNone(st))
			case n > 1:
				pc.duplicates += n - 1
				pc.problem("%s at %s: %d times", p.asset, p.partner, n)
			}
		}
	}
	return pc, nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// checkFolder reads one delivery folder's manifest and checks the files.
func checkFolder(dir, partner string, sums []string) (domain.Manifest, error) {
	var m domain.Manifest
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("manifest.json: %w", err)
	}
	if m.PartnerID != partner {
		return m, fmt.Errorf("manifest names partner %q", m.PartnerID)
	}
	i, err := strconv.Atoi(strings.TrimPrefix(m.AssetID, "pa"))
	if err != nil || i < 0 || i >= len(sums) || assetID(i) != m.AssetID {
		return m, fmt.Errorf("manifest names asset %q, not one of the bench's", m.AssetID)
	}
	listed := map[string]bool{"manifest.json": true}
	for _, f := range m.Files {
		listed[filepath.ToSlash(f.Name)] = true
		sum, n, err := sha256File(filepath.Join(dir, filepath.FromSlash(f.Name)))
		if err != nil {
			return m, err
		}
		if n != f.Size || sum != f.SHA256 {
			return m, fmt.Errorf("%s: %d bytes sha256 %s, manifest says %d bytes %s", f.Name, n, sum, f.Size, f.SHA256)
		}
		if f.Role == "main" && sum != sums[i] {
			return m, fmt.Errorf("%s: sha256 %s, the source's is %s", f.Name, sum, sums[i])
		}
	}
	var extra []string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if !listed[filepath.ToSlash(rel)] {
			extra = append(extra, rel)
		}
		return nil
	})
	if err != nil {
		return m, err
	}
	if len(extra) > 0 {
		return m, fmt.Errorf("files not in the manifest: %v", extra)
	}
	return m, nil
}

func sha256File(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	return hex.EncodeToString(h.Sum(nil)), n, err
}
