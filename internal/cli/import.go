package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/syndicate-media/syndicate/client"
	"github.com/syndicate-media/syndicate/internal/intake"
)

// maxImportLine bounds one notification line, like the API's body limit.
const maxImportLine = 1 << 20

// runImport replays a legacy system's notifications, one JSON
// notification a line, through the API: the strangler path (partners in
// shadow mode receive the packages in their shadow folder, to compare
// with what the legacy system sent). A line without an idempotency key
// gets one from the file's name, the line's content and how many
// identical lines came before it: running the same file again starts no
// new work, while the same notification repeated in the log (the legacy
// system sent it again after a change) is decided again each time. Bad
// lines are reported with their number; the rest go on.
func runImport(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "import", "import [--dry-run] FILE.jsonl   (one notification a line, as POST /v1/notifications; - for stdin)")
	connect := clientFlags(env, fs)
	dryRun := fs.Bool("dry-run", false, "print each decision (partner, action, scope, changed fields) without recording or delivering anything")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	in, name := io.Reader(os.Stdin), fs.Arg(0)
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	c := connect()
	// Fixed columns rather than a tabwriter: each line prints as it is
	// decided, so a long import shows its progress.
	row := func(cols ...any) { fmt.Fprintf(env.Stdout, "%-6v %-20v %-16v %-9v %-36v %-8v %v  %v\n", cols...) }
	row("LINE", "ASSET", "PARTNER", "ACTION", "DELIVERY", "SCOPE", "CHANGES", "NOTE")
	var lines, bad int
	seen := map[string]int{} // line key → identical lines so far
	err := eachLine(in, func(n int, line []byte, tooLong bool) error {
		lines++
		sum := sha256.Sum256(append([]byte(filepath.Base(name)+"\x00"), line...))
		key := hex.EncodeToString(sum[:16])
		seen[key]++
		key = fmt.Sprintf("import-%s-%d", key, seen[key])
		resp, err := importLine(ctx, c, line, key, tooLong, *dryRun)
		var ce *client.Error
		switch {
		case errors.As(err, &ce) || errors.Is(err, errBadLine):
			bad++
			fmt.Fprintf(env.Stderr, "line %d: %v\n", n, err)
			return nil
		case err != nil: // the server is unreachable: every further line would fail the same way
			return fmt.Errorf("line %d: %w", n, err)
		}
		for _, d := range resp.Decisions {
			row(n, resp.AssetID, d.PartnerID, d.Action, dash(d.DeliveryID), dash(d.Scope), dash(strings.Join(d.Changes, ",")), d.Reason)
		}
		return nil
	})
	if err != nil {
		return err
	}
	mode := "imported"
	if *dryRun {
		mode = "dry run, nothing recorded"
	}
	fmt.Fprintf(env.Stdout, "%d notification(s), %d bad (%s)\n", lines, bad, mode)
	if bad > 0 {
		return fmt.Errorf("%d of %d line(s) were refused", bad, lines)
	}
	return nil
}

var errBadLine = errors.New("bad line")

// importLine decodes one line strictly and sends it, with key as its
// idempotency key unless it has one.
func importLine(ctx context.Context, c *client.Client, line []byte, key string, tooLong, dryRun bool) (intake.Response, error) {
	if tooLong {
		return intake.Response{}, fmt.Errorf("%w: longer than %d bytes", errBadLine, maxImportLine)
	}
	var req intake.Request
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return intake.Response{}, fmt.Errorf("%w: %v", errBadLine, err)
	}
	if dec.More() {
		return intake.Response{}, fmt.Errorf("%w: more than one JSON value", errBadLine)
	}
	if req.IdempotencyKey == "" {
		req.IdempotencyKey = key
	}
	if dryRun {
		return c.NotifyDryRun(ctx, req)
	}
	return c.Notify(ctx, req)
}

// eachLine calls fn for every non-blank line with its 1-based number;
// a line over maxImportLine is skipped to its end and passed as tooLong.
func eachLine(r io.Reader, fn func(n int, line []byte, tooLong bool) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for n := 1; ; n++ {
		var line []byte
		tooLong := false
		for {
			chunk, isPrefix, err := br.ReadLine()
			if err == io.EOF {
				if len(line) == 0 && !tooLong {
					return nil
				}
				break
			}
			if err != nil {
				return err
			}
			if !tooLong {
				line = append(line, chunk...)
				if len(line) > maxImportLine {
					line, tooLong = nil, true
				}
			}
			if !isPrefix {
				break
			}
		}
		if len(bytes.TrimSpace(line)) == 0 && !tooLong {
			continue
		}
		if err := fn(n, line, tooLong); err != nil {
			return err
		}
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
