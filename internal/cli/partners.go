package cli

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"go.yaml.in/yaml/v3"

	"github.com/syndicate-media/syndicate/internal/api"
	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/store"
)

const partnersUsage = `Usage:
  syndicate partners apply -f FILE|DIR [--dry-run] [--rollout 10%] [-m MESSAGE]
  syndicate partners history PARTNER
  syndicate partners diff PARTNER V1 V2
  syndicate partners rollback PARTNER [--to V]     (without --to: abandon the rollout in progress)
  syndicate partners promote PARTNER               (finish a rollout)
  syndicate partners status PARTNER                (active version, rollout and its log)
  syndicate partners keys create|list|revoke PARTNER [KEY_ID]
  syndicate partners schema                        (the profile JSON Schema)
  syndicate partners validate FILE|DIR...          (check profiles locally, no server needed)
`

var partnerCommands = map[string]func(ctx context.Context, env *Env, args []string) error{
	"apply":    runPartnersApply,
	"history":  runPartnersHistory,
	"diff":     runPartnersDiff,
	"rollback": runPartnersRollback,
	"promote":  runPartnersPromote,
	"status":   runPartnersStatus,
}

func runPartnersApply(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "partners apply", "partners apply -f FILE|DIR [flags]")
	connect := clientFlags(env, fs)
	file := fs.String("f", "", "partner profile (YAML or JSON), or a directory of them")
	dry := fs.Bool("dry-run", false, "print what would change; store nothing")
	rollout := fs.String("rollout", "", "roll the new version out to this share of assets first, e.g. 10%")
	msg := fs.String("m", "", "a message kept with the new version")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *file == "" {
		fs.Usage()
		return errUsage
	}
	files, err := profileFiles(*file)
	if err != nil {
		return err
	}
	c := connect()
	q := url.Values{}
	if *dry {
		q.Set("dry_run", "true")
	}
	if *rollout != "" {
		q.Set("rollout", strings.TrimSuffix(*rollout, "%"))
	}
	if *msg != "" {
		q.Set("message", *msg)
	}
	q.Set("author", envOr(env, "USER", "cli"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var head struct {
			ID string `yaml:"id"`
		}
		if err := yaml.Unmarshal(b, &head); err != nil || head.ID == "" { // YAML is a superset of JSON
			return fmt.Errorf("%s: need a top-level id field", f)
		}
		var resp api.PartnerResponse
		if err := c.Do(ctx, "PUT", "/v1/partners/"+url.PathEscape(head.ID)+"?"+q.Encode(), "application/yaml", b, &resp); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		printApply(env, resp)
	}
	return nil
}

func printApply(env *Env, resp api.PartnerResponse) {
	id := resp.Partner.ID
	switch {
	case resp.DryRun && !resp.Changed:
		fmt.Fprintf(env.Stdout, "partner %s: no change\n", id)
	case resp.DryRun:
		fmt.Fprintf(env.Stdout, "partner %s: would change\n", id)
		for _, c := range resp.Changes {
			fmt.Fprintf(env.Stdout, "  %s: %v -> %v\n", c.Path, show(c.From), show(c.To))
		}
	case !resp.Changed:
		fmt.Fprintf(env.Stdout, "partner %s: unchanged (version %d)\n", id, resp.Version)
	case resp.Rollout != nil && resp.Rollout.Candidate == resp.Version:
		fmt.Fprintf(env.Stdout, "partner %s: version %d rolling out to %d%% of assets (active: version %d)\n", id, resp.Version, resp.Rollout.Percent, resp.Rollout.Active)
	default:
		fmt.Fprintf(env.Stdout, "partner %s: version %d\n", id, resp.Version)
	}
}

func show(v any) string {
	if v == nil {
		return "(none)"
	}
	return fmt.Sprint(v)
}

// profileFiles expands a directory into its *.yaml, *.yml and *.json files.
func profileFiles(path string) ([]string, error) {
	fi, err := os.Stat(path)
	if err != nil || !fi.IsDir() {
		return []string{path}, err
	}
	var out []string
	for _, pat := range []string{"*.yaml", "*.yml", "*.json"} {
		m, _ := filepath.Glob(filepath.Join(path, pat))
		out = append(out, m...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no *.yaml, *.yml or *.json profiles", path)
	}
	return out, nil
}

func runPartnersHistory(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "partners history", "partners history PARTNER")
	connect := clientFlags(env, fs)
	if err := parse(fs, args); err != nil || fs.NArg() != 1 {
		return usageOr(fs, err)
	}
	var resp struct {
		Versions []store.PartnerVersion `json:"versions"`
	}
	if err := connect().Do(ctx, "GET", "/v1/partners/"+url.PathEscape(fs.Arg(0))+"/versions", "", nil, &resp); err != nil {
		return err
	}
	w := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "VERSION\tCREATED\tAUTHOR\tMESSAGE\n")
	for _, v := range resp.Versions {
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\n", v.Version, v.CreatedAt.Format("2006-01-02 15:04:05"), v.Author, v.Message)
	}
	return w.Flush()
}

func runPartnersDiff(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "partners diff", "partners diff PARTNER V1 V2")
	connect := clientFlags(env, fs)
	if err := parse(fs, args); err != nil || fs.NArg() != 3 {
		return usageOr(fs, err)
	}
	var resp struct {
		Changes []api.Change `json:"changes"`
	}
	q := url.Values{"from": {fs.Arg(1)}, "to": {fs.Arg(2)}}
	if err := connect().Do(ctx, "GET", "/v1/partners/"+url.PathEscape(fs.Arg(0))+"/diff?"+q.Encode(), "", nil, &resp); err != nil {
		return err
	}
	if len(resp.Changes) == 0 {
		fmt.Fprintln(env.Stdout, "no differences")
	}
	for _, c := range resp.Changes {
		fmt.Fprintf(env.Stdout, "%s: %v -> %v\n", c.Path, show(c.From), show(c.To))
	}
	return nil
}

func runPartnersRollback(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "partners rollback", "partners rollback PARTNER [--to V] [-m MESSAGE]")
	connect := clientFlags(env, fs)
	to := fs.Int("to", 0, "make this version's content active again (as a new version)")
	msg := fs.String("m", "", "why")
	if err := parse(fs, reorder(args)); err != nil || fs.NArg() != 1 {
		return usageOr(fs, err)
	}
	var resp map[string]any
	if err := connect().Do(ctx, "POST", "/v1/partners/"+url.PathEscape(fs.Arg(0))+"/rollback", "", api.RollbackRequest{To: *to, Message: *msg}, &resp); err != nil {
		return err
	}
	if *to == 0 {
		fmt.Fprintf(env.Stdout, "partner %s: rollout abandoned\n", fs.Arg(0))
		return nil
	}
	fmt.Fprintf(env.Stdout, "partner %s: version %v now active (content of version %d)\n", fs.Arg(0), resp["version"], *to)
	return nil
}

func runPartnersPromote(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "partners promote", "partners promote PARTNER")
	connect := clientFlags(env, fs)
	if err := parse(fs, args); err != nil || fs.NArg() != 1 {
		return usageOr(fs, err)
	}
	var resp struct {
		Rollout domain.Rollout `json:"rollout"`
	}
	if err := connect().Do(ctx, "POST", "/v1/partners/"+url.PathEscape(fs.Arg(0))+"/promote", "", nil, &resp); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "partner %s: version %d now active for all assets\n", fs.Arg(0), resp.Rollout.Active)
	return nil
}

func runPartnersStatus(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "partners status", "partners status PARTNER")
	connect := clientFlags(env, fs)
	if err := parse(fs, args); err != nil || fs.NArg() != 1 {
		return usageOr(fs, err)
	}
	var resp api.PartnerResponse
	if err := connect().Do(ctx, "GET", "/v1/partners/"+url.PathEscape(fs.Arg(0)), "", nil, &resp); err != nil {
		return err
	}
	r := resp.Rollout
	fmt.Fprintf(env.Stdout, "partner %s: active version %d\n", fs.Arg(0), r.Active)
	if r.Candidate != 0 {
		fmt.Fprintf(env.Stdout, "rolling out version %d to %d%% of assets since %s\n", r.Candidate, r.Percent, r.StartedAt.Format("2006-01-02 15:04:05"))
	}
	for _, l := range r.Log {
		fmt.Fprintf(env.Stdout, "  %s  %-11s version %d  %s\n", l.At.Format("2006-01-02 15:04:05"), l.Action, l.Version, l.Detail)
	}
	return nil
}

// usageOr prints usage for a wrong argument count, or passes a parse error on.
func usageOr(fs *flag.FlagSet, err error) error {
	if err != nil {
		return err
	}
	fs.Usage()
	return errUsage
}

// reorder moves flags (each taking a value) before positional arguments,
// so `rollback acme --to 2` works like `rollback --to 2 acme`: the flag
// package stops at the first positional argument.
func reorder(args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if strings.HasPrefix(a, "-") {
			flags = append(flags, a)
			if !strings.Contains(a, "=") && i+1 < len(args) {
				flags = append(flags, args[i+1])
				i++
			}
			continue
		}
		pos = append(pos, a)
	}
	return append(flags, pos...)
}
