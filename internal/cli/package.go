package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"

	"github.com/syndicate-media/syndicate/internal/api"
	"github.com/syndicate-media/syndicate/internal/workflow"
)

// runPackage builds a partner's package for an asset into a local folder,
// without delivering it, and prints its manifest.
func runPackage(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "package", "package --asset ID --partner ID --out DIR")
	connect := clientFlags(env, fs)
	asset := fs.String("asset", "", "asset id (from the server's catalog)")
	partner := fs.String("partner", "", "partner id (its active profile)")
	out := fs.String("out", "", "folder to build the package in")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *asset == "" || *partner == "" || *out == "" {
		fs.Usage()
		return errUsage
	}
	c := connect()
	var ar api.AssetResponse
	if err := c.Do(ctx, "GET", "/v1/assets/"+url.PathEscape(*asset), "", nil, &ar); err != nil {
		return err
	}
	var pr api.PartnerResponse
	if err := c.Do(ctx, "GET", "/v1/partners/"+url.PathEscape(*partner), "", nil, &pr); err != nil {
		return err
	}
	ar.Asset.Version = ar.Version
	log := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	dir, err := workflow.Preview(ctx, log, ar.Asset, pr.Partner, *out)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "Package for %s (asset %s v%d) in %s:\n", pr.Partner.ID, ar.Asset.ID, ar.Version, dir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil {
			fmt.Fprintf(env.Stdout, "  %-40s %12d bytes\n", e.Name(), info.Size())
		}
	}
	if m, err := os.ReadFile(filepath.Join(dir, "manifest.json")); err == nil {
		fmt.Fprintf(env.Stdout, "\nmanifest.json:\n%s", m)
	}
	return nil
}
