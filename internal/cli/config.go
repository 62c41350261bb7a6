package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"

	"github.com/syndicate-media/syndicate/internal/catalog"
)

// serveConfig is the file `syndicate serve --config FILE` reads (YAML or
// JSON). Flags hold the rest of the server's settings; the file holds
// what does not fit in a flag.
type serveConfig struct {
	// Catalog selects where assets come from; see README.md "Catalogs".
	Catalog catalog.Config `yaml:"catalog"`
}

// loadServeConfig reads and checks the file: unknown fields are refused,
// and every error names the file (YAML errors their line, catalog errors
// their field).
func loadServeConfig(path string) (serveConfig, error) {
	var cfg serveConfig
	if path == "" {
		return cfg, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	if err := catalog.Check(cfg.Catalog); err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}
