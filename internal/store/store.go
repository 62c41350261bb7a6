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
	"sync"
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

// Store is the application's database. DB takes every write and every
// transaction, the workflow engine's included: on SQLite it is one
// connection (one writer), on PostgreSQL a pool. ReadDB serves reads
// outside transactions on SQLite. Pool (on PostgreSQL) is DB's
// connections for the workflow engine.
type Store struct {
	DB *sql.DB
	// ReadDB, if set, serves the store's reads outside transactions
	// (SQLite: a read-only pool beside the one writer connection).
	ReadDB  *sql.DB
	Dialect Dialect
	Pool    *pgxpool.Pool
	// Now is the clock; tests may replace it.
	Now func() time.Time

	// writer runs SQLite's writes, grouped (see groupWriter); nil on
	// PostgreSQL, whose transactions run side by side.
	writer *groupWriter
	// stmts holds prepared statements of hot queries (SQLite; pgx caches
	// its own).
	stmts sync.Map // query → *sql.Stmt
	// want holds queries to prepare before the next transaction.
	wantMu sync.Mutex
	want   map[string]bool
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
		path := filepath.Join(cfg.DataDir, "syndicate.db")
		db, err := sql.Open("sqlite", SQLiteDSN(path))
		if err != nil {
			return nil, fmt.Errorf("store: sqlite: %w", err)
		}
		// One writer: SQLite takes one write transaction at a time, and
		// every write of the process (the application's and the
		// engine's, which gets this handle) queues for this connection in
		// database/sql instead of sleeping in SQLite's busy handler. No
		// BUSY in normal operation, so DBOS's queue polling never backs
		// off; kept open for good (its prepared statements stay).
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		read, err := sql.Open("sqlite", SQLiteReadDSN(path))
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("store: sqlite: %w", err)
		}
		// Readers on their own WAL connections never wait for the writer.
		read.SetMaxOpenConns(readConns)
		read.SetMaxIdleConns(readConns)
		s.DB, s.ReadDB, s.Dialect = db, read, SQLite
		s.writer = newGroupWriter(db, s.prepareWanted)
	default:
		return nil, fmt.Errorf("store: database url must start with postgres://; leave it empty for SQLite")
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// readConns is the size of the SQLite read pool.
const readConns = 4

// SQLiteDSN is the modernc.org/sqlite DSN of the write connection to a
// database file: WAL, immediate write transactions (the lock is taken at
// BEGIN, never upgraded) and a busy timeout for another process (such as
// an operator's sqlite3 shell) holding the lock. synchronous=NORMAL: in WAL
// mode a commit survives a crash or SIGKILL of the process (which is what
// exactly-once across SIGKILL needs); only a power loss or OS crash can
// drop the last commits before a checkpoint. FULL would fsync every
// commit, the one cost that grows with every small delivery.
func SQLiteDSN(path string) string {
	return "file:" + path + "?_txlock=immediate&_pragma=busy_timeout(10000)&_pragma=foreign_keys(ON)" +
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
}

// SQLiteReadDSN is the DSN of a read connection: query_only, so a write
// sent to the read pool by mistake fails instead of taking the lock.
func SQLiteReadDSN(path string) string {
	return "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=foreign_keys(ON)&_pragma=query_only(1)"
}

// Close releases the database.
func (s *Store) Close() error {
	if s.writer != nil {
		s.writer.close()
	}
	err := s.DB.Close()
	if s.ReadDB != nil {
		err = errors.Join(err, s.ReadDB.Close())
	}
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

// InTx runs fn in a transaction, committing if it returns nil. fn gets a
// context marked as inside the transaction: the store refuses a pool
// query or a nested InTx made with it (ErrQueryOutsideTx), so every query
// of fn goes through tx. On SQLite the process's writes run one at a
// time on its writer, several to a transaction (groupWriter): fn then
// runs in a savepoint, and its error rolls back only its own writes.
func (s *Store) InTx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	if err := guard(ctx, "BEGIN"); err != nil {
		return err
	}
	if s.writer != nil {
		return s.writer.write(ctx, fn)
	}
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	if err := fn(marked(ctx), tx); err != nil {
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

// txExec runs query (? placeholders) in tx: on SQLite as a cached
// prepared statement (parsing a statement costs more than running it), on
// PostgreSQL as is (pgx caches prepared statements itself).
func (s *Store) txExec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	if st := s.prepared(ctx, query); st != nil {
		return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, s.q(query), args...)
}

// txQueryRow is txExec for a query returning one row.
func (s *Store) txQueryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	if st := s.prepared(ctx, query); st != nil {
		return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, s.q(query), args...)
}

// prepared returns the cached prepared statement for query on SQLite, nil
// on PostgreSQL or if it is not prepared yet. A statement is never
// prepared inside a transaction: preparing on the pool would wait for a
// connection the transaction may hold (the writer has one). A missed
// query runs unprepared and is prepared before the next transaction.
func (s *Store) prepared(ctx context.Context, query string) *sql.Stmt {
	if s.Dialect != SQLite {
		return nil
	}
	if st, ok := s.stmts.Load(query); ok {
		return st.(*sql.Stmt)
	}
	s.wantMu.Lock()
	if s.want == nil {
		s.want = map[string]bool{}
	}
	s.want[query] = true
	s.wantMu.Unlock()
	return nil
}

// prepareWanted prepares the statements transactions missed, outside any
// transaction (on the writer's goroutine).
func (s *Store) prepareWanted(ctx context.Context) {
	s.wantMu.Lock()
	want := s.want
	s.want = nil
	s.wantMu.Unlock()
	for query := range want {
		if _, ok := s.stmts.Load(query); ok {
			continue
		}
		st, err := s.DB.PrepareContext(ctx, query)
		if err != nil {
			continue // it runs unprepared and reports its own error
		}
		s.stmts.Store(query, st)
	}
}
