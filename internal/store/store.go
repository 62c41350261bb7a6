// Package store keeps Syndicate's application state — assets and their
// versions, partner profiles, notifications, deliveries, API tokens — in the
// same database as the workflow engine: a SQLite file by default, or
// PostgreSQL. Migrations are ordered and run at Open.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers database/sql driver "sqlite"
)

// Dialect names the SQL database behind a Store.
type Dialect string

// The supported dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// PostgreSQL advisory lock keys, one per purpose, kept here so two uses
// can never share one by accident.
const (
	LockMigrate  int64 = 7152030811 // migrations at Open
	LockStamp    int64 = 7152030812 // stamping the event outbox's order
	LockDispatch int64 = 7152030813 // the one event dispatcher
	LockTakeover int64 = 7152030814 // taking over dead workers
)

// ErrNotFound is wrapped when a row does not exist.
var ErrNotFound = errors.New("not found")

// Config says which database to open.
type Config struct {
	// DatabaseURL is postgres://... for PostgreSQL; empty means SQLite.
	DatabaseURL string
	// DataDir holds the SQLite file (syndicate.db) when DatabaseURL is empty.
	DataDir string
}

// Store is the application's database. DB serves the application; Pool (on
// PostgreSQL) is the same connections for the workflow engine.
type Store struct {
	DB      *sql.DB
	Dialect Dialect
	Pool    *pgxpool.Pool
	// Now is the clock; tests may replace it.
	Now func() time.Time
}

// Open connects, migrates and returns the store.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	s := &Store{Now: func() time.Time { return time.Now().UTC() }}
	switch {
	case strings.HasPrefix(cfg.DatabaseURL, "postgres://"), strings.HasPrefix(cfg.DatabaseURL, "postgresql://"):
		pcfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
		if err != nil {
			return nil, fmt.Errorf("store: postgres: %w", err)
		}
		// The engine keeps connections busy (LISTEN, queue polling), the
		// event dispatcher holds one for its lock: pgx's default of
		// max(4, CPUs) starves the rest. pool_max_conns in the URL wins.
		if !strings.Contains(cfg.DatabaseURL, "pool_max_conns") {
			pcfg.MaxConns = 20
		}
		pool, err := pgxpool.NewWithConfig(ctx, pcfg)
		if err != nil {
			return nil, fmt.Errorf("store: postgres: %w", err)
		}
		if err := pool.Ping(ctx); err != nil {
			pool.Close()
			return nil, fmt.Errorf("store: postgres %s: %w", pool.Config().ConnConfig.Host, err)
		}
		s.Pool, s.DB, s.Dialect = pool, stdlib.OpenDBFromPool(pool), Postgres
	case cfg.DatabaseURL == "":
		if cfg.DataDir == "" {
			return nil, errors.New("store: need a data dir or a database url")
		}
		if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		db, err := sql.Open("sqlite", SQLiteDSN(filepath.Join(cfg.DataDir, "syndicate.db")))
		if err != nil {
			return nil, fmt.Errorf("store: sqlite: %w", err)
		}
		db.SetMaxOpenConns(8)
		s.DB, s.Dialect = db, SQLite
	default:
		return nil, fmt.Errorf("store: database url must start with postgres://; leave it empty for SQLite")
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// SQLiteDSN is the modernc.org/sqlite DSN for a database file: WAL,
// immediate write transactions (no lock upgrades that deadlock) and a busy
// timeout, so the engine and the application share the file safely.
func SQLiteDSN(path string) string {
	return "file:" + path + "?_txlock=immediate&_pragma=busy_timeout(10000)&_pragma=foreign_keys(ON)" +
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
}

// Close releases the database.
func (s *Store) Close() error {
	err := s.DB.Close()
	if s.Pool != nil {
		s.Pool.Close()
	}
	return err
}

// q rewrites the ? placeholders of a query for the dialect.
func (s *Store) q(query string) string {
	if s.Dialect != Postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// InTx runs fn in a transaction, committing if it returns nil.
func (s *Store) InTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

const timeFormat = "2006-01-02T15:04:05.000000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeFormat) }

func parseTime(s string) time.Time {
	t, _ := time.Parse(timeFormat, s)
	return t
}

func parseTimePtr(s sql.NullString) *time.Time {
	if !s.Valid || s.String == "" {
		return nil
	}
	t := parseTime(s.String)
	return &t
}

func nullTime(t *time.Time) sql.NullString {
	if t == nil {
		return sql.NullString{}
	}
	return sql.NullString{String: formatTime(*t), Valid: true}
}
