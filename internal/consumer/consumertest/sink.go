// Package consumertest is the conformance suite every queue consumer
// (internal/consumer/natsq, sqsq) runs against a real queue server: acks
// only after commit, redelivery after a transient failure, poison to the
// dead letter with a reason, slow submits kept leased, a graceful stop that
// acks nothing uncommitted, and a consumer process SIGKILLed mid-batch that
// loses nothing. Its Sink commits to a real SQLite file, keyed by the
// notification's idempotency key as intake keys it.
package consumertest

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	"github.com/syndicate-media/syndicate/internal/consumer"
)

// Note is what SQLiteSink accepts: the fields of a notification it needs.
type Note struct {
	AssetID        string          `json:"asset_id"`
	Partners       json.RawMessage `json:"partners"`
	IdempotencyKey string          `json:"idempotency_key,omitempty"`
}

// SQLiteSink commits each notification as one row of a SQLite file, keyed
// by its idempotency key (or the message id, as intake does with a queue's
// messages): a second commit of the same key only counts up `commits`.
type SQLiteSink struct {
	DB *sql.DB
	// Delay, if set, is waited before each commit (a slow database) and
	// again after it, before Submit returns.
	Delay time.Duration
	// Fail, if set, is called before the commit; an error it returns is
	// Submit's (nothing is committed).
	Fail func(key string, call int) error

	mu    sync.Mutex
	calls map[string]int
}

// OpenSQLite opens (creating) the sink's database file.
func OpenSQLite(path string) (*SQLiteSink, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_txlock=immediate&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)")
	if err != nil {
		return nil, err
	}
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS notes (key TEXT PRIMARY KEY, asset_id TEXT NOT NULL, commits INTEGER NOT NULL)`); err != nil {
		db.Close()
		return nil, err
	}
	return &SQLiteSink{DB: db, calls: map[string]int{}}, nil
}

// Submit validates the body strictly (unknown fields, a missing asset id
// and malformed JSON are poison) and commits it.
func (s *SQLiteSink) Submit(ctx context.Context, body []byte) error {
	var n Note
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&n); err != nil {
		return consumer.Poisonf("malformed notification: %v", err)
	}
	if n.AssetID == "" {
		return consumer.Poisonf("asset_id: required")
	}
	key := n.IdempotencyKey
	if key == "" {
		key = consumer.MessageID(ctx)
	}
	if key == "" {
		return errors.New("no idempotency key and no message id")
	}
	s.mu.Lock()
	if s.calls == nil {
		s.calls = map[string]int{}
	}
	s.calls[key]++
	call := s.calls[key]
	s.mu.Unlock()
	if s.Fail != nil {
		if err := s.Fail(key, call); err != nil {
			return err
		}
	}
	if s.Delay > 0 {
		select {
		case <-time.After(s.Delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	_, err := s.DB.ExecContext(ctx, `INSERT INTO notes (key, asset_id, commits) VALUES (?, ?, 1)
		ON CONFLICT (key) DO UPDATE SET commits = commits + 1`, key, n.AssetID)
	if err != nil {
		return fmt.Errorf("commit %s: %w", key, err)
	}
	if s.Delay > 0 {
		// Committed, not yet acked: the window a crash must not lose.
		time.Sleep(s.Delay)
	}
	return nil
}

// Calls is how many times Submit saw key.
func (s *SQLiteSink) Calls(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[key]
}

// Row is one committed notification.
type Row struct {
	Key, AssetID string
	Commits      int
}

// Rows reads every committed notification.
func Rows(db *sql.DB) ([]Row, error) {
	rs, err := db.Query(`SELECT key, asset_id, commits FROM notes ORDER BY key`)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []Row
	for rs.Next() {
		var r Row
		if err := rs.Scan(&r.Key, &r.AssetID, &r.Commits); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rs.Err()
}

var _ consumer.Sink = (*SQLiteSink)(nil)
