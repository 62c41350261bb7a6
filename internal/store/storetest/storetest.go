// Package storetest gives tests a fresh, empty database on each dialect:
// a SQLite file in a temporary directory, and a new PostgreSQL database on
// the server at SYNDICATE_TEST_POSTGRES (default 127.0.0.1:5432, database
// test). PostgreSQL is on every project machine, so an unreachable server
// fails the test instead of skipping it.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/syndicate-media/syndicate/internal/store"
)

// DefaultPostgres is the test server when SYNDICATE_TEST_POSTGRES is unset.
const DefaultPostgres = "postgres://127.0.0.1:5432/test?sslmode=disable"

// Dialects returns one fresh configuration per dialect, keyed by name.
func Dialects(t testing.TB) map[string]store.Config {
	return map[string]store.Config{
		"sqlite":   SQLite(t),
		"postgres": Postgres(t),
	}
}

// SQLite returns a configuration for a new SQLite file.
func SQLite(t testing.TB) store.Config {
	return store.Config{DataDir: t.TempDir()}
}

// Postgres creates an empty database for this test, dropped at cleanup.
func Postgres(t testing.TB) store.Config {
	t.Helper()
	admin := os.Getenv("SYNDICATE_TEST_POSTGRES")
	if admin == "" {
		admin = DefaultPostgres
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("PostgreSQL is required for this test (set SYNDICATE_TEST_POSTGRES): %v", err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "syndicate_test_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), admin)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return store.Config{DatabaseURL: u.String(), DataDir: t.TempDir()}
}

// Open opens a store on cfg, closed at cleanup.
func Open(t testing.TB, cfg store.Config) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
