package event

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"log/slog"
	"time"

	"github.com/syndicate-media/syndicate/internal/store"
)

// dispatchLockKey is the PostgreSQL advisory lock that makes one process
// the dispatcher (store uses ...811 for migrations, ...812 for stamping).
const dispatchLockKey = store.LockDispatch

// leadership decides whether this process may dispatch. On SQLite one
// process owns the database file, so it always may. On PostgreSQL it must
// hold a session advisory lock on a connection of its own: the lock lives
// exactly as long as that session, so a process that dies (or loses its
// connection) lets another take over.
type leadership struct {
	st   *store.Store
	log  *slog.Logger
	conn *sql.Conn
}

// hold reports whether this process may dispatch now, taking the lock if
// it is free and checking that a held lock's session is still alive.
func (l *leadership) hold(ctx context.Context) bool {
	if l.st.Dialect != store.Postgres {
		return true
	}
	if l.conn != nil {
		if err := l.conn.PingContext(ctx); err == nil {
			return true
		} else if ctx.Err() == nil {
			l.log.Warn("event dispatcher lost its database session; stops until it holds the lock again", "error", err)
		}
		l.release()
	}
	conn, err := l.st.DB.Conn(ctx)
	if err != nil {
		if ctx.Err() == nil {
			l.log.Warn("event dispatcher: no database connection", "error", err)
		}
		return false
	}
	var got bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, int64(dispatchLockKey)).Scan(&got); err != nil || !got {
		discard(conn)
		return false
	}
	l.conn = conn
	l.log.Info("event dispatcher holds the dispatch lock")
	return true
}

// release unlocks and drops the connection. It is closed rather than put
// back in the pool, so a failed unlock cannot leave a pooled session
// holding the lock.
func (l *leadership) release() {
	if l.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = l.conn.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, int64(dispatchLockKey))
	discard(l.conn)
	l.conn = nil
}

// discard closes the connection's session instead of pooling it.
func discard(conn *sql.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	_ = conn.Close()
}
