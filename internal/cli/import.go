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
	"strings"
	"text/tabwriter"

	"github.com/syndicate-media/syndicate/client"
	"github.com/syndicate-media/syndicate/internal/intake"
)

// maxImportLine bounds one notification line, like the API's body limit.
const maxImportLine = 1 << 20

// runImport replays a legacy system's notifications, one JSON
// notification a line, through the API: the strangler path (partners in
// shadow mode receive the packages in their shadow folder, to compare
// with what the legacy system sent). A line without an idempotency key
// gets one from its content, so running the same file again starts no
// new work. Bad lines are reported with their number; the rest go on.
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
	in := io.Reader(os.Stdin)
	if name := fs.Arg(0); name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	c := connect()
	w := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "LINE\tASSET\tPARTNER\tACTION\tDELIVERY\tSCOPE\tCHANGES\tNOTE\n")
	var lines, bad int
	err := eachLine(in, func(n int, line []byte, tooLong bool) error {
		lines++
		resp, err := importLine(ctx, c, line, tooLong, *dryRun)
		var ce *client.Error
		switch {
		case errors.As(err, &ce) || errors.Is(err, errBadLine):
			bad++
			w.Flush()
			fmt.Fprintf(env.Stderr, "line %d: %v\n", n, err)
			return nil
		case err != nil: // the server is unreachable: every further line would fail the same way
			return fmt.Errorf("line %d: %w", n, err)
		}
		for _, d := range resp.Decisions {
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n, resp.AssetID, d.PartnerID, d.Action, dash(d.DeliveryID),
				dash(d.Scope), dash(strings.Join(d.Changes, ",")), d.Reason)
		}
		return nil
	})
	w.Flush()
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

// importLine decodes one line strictly and sends it.
func importLine(ctx context.Context, c *client.Client, line []byte, tooLong, dryRun bool) (intake.Response, error) {
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
		sum := sha256.Sum256(line)
		req.IdempotencyKey = "import-" + hex.EncodeToString(sum[:16])
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
