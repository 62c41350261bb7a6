package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ErrQueryOutsideTx is returned when a query is made on the pool, or a
// transaction begun, while the same call chain holds a transaction (its
// context carries the mark InTx puts on it). Such a query does not see
// the transaction's writes, and on SQLite it waits for a connection or a
// lock that the transaction itself holds: issue 14's freeze. Every query
// inside a transaction goes through that transaction.
var ErrQueryOutsideTx = errors.New("store: query on the pool inside a transaction (use the transaction)")

// txMark is the context key InTx sets for the duration of fn.
type txMark struct{}

// InTransaction reports whether ctx is inside an InTx callback.
func InTransaction(ctx context.Context) bool { return ctx.Value(txMark{}) != nil }

// guard refuses a pool query made inside a transaction.
func guard(ctx context.Context, query string) error {
	if InTransaction(ctx) {
		return fmt.Errorf("%w: %.60s", ErrQueryOutsideTx, query)
	}
	return nil
}

// row is one row of a query: *sql.Row, or a refusal that Scan reports.
type row interface{ Scan(dest ...any) error }

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// readRow runs a one-row read (? placeholders) on the read pool.
func (s *Store) readRow(ctx context.Context, query string, args ...any) row {
	if err := guard(ctx, query); err != nil {
		return errRow{err}
	}
	return s.reader().QueryRowContext(ctx, s.q(query), args...)
}

// readRows runs a read (? placeholders) on the read pool.
func (s *Store) readRows(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if err := guard(ctx, query); err != nil {
		return nil, err
	}
	return s.reader().QueryContext(ctx, s.q(query), args...)
}

// exec runs a write (? placeholders) on its own, outside any transaction.
func (s *Store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if err := guard(ctx, query); err != nil {
		return nil, err
	}
	if s.writer != nil {
		var res sql.Result
		err := s.writer.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
			var err error
			res, err = s.txExec(ctx, tx, query, args...)
			return err
		})
		return res, err
	}
	return s.DB.ExecContext(ctx, s.q(query), args...)
}

// writeRows runs a write that returns rows (UPDATE … RETURNING).
func (s *Store) writeRows(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if err := guard(ctx, query); err != nil {
		return nil, err
	}
	return s.DB.QueryContext(ctx, s.q(query), args...)
}

// reader is the handle reads go to.
func (s *Store) reader() *sql.DB {
	if s.ReadDB != nil {
		return s.ReadDB
	}
	return s.DB
}
