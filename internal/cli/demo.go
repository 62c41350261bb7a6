package cli

import (
	"context"

	"github.com/syndicate-media/syndicate/internal/demo"
)

func runDemo(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "demo", "demo [flags]")
	keep := fs.Bool("keep", false, "leave the server running afterwards and print its URL and token")
	dir := fs.String("dir", "", "directory for the demo's data and partners (default: a new temporary directory)")
	assets := fs.Int("assets", 3, "number of sample assets")
	mediaMB := fs.Int("media-mb", 4, "size of each sample media file in MiB")
	if err := parse(fs, args); err != nil {
		return err
	}
	return demo.Run(ctx, demo.Options{Dir: *dir, Assets: *assets, MediaBytes: *mediaMB << 20, Keep: *keep, Out: env.Stdout})
}
