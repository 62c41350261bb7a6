package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"go.yaml.in/yaml/v3"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/intake"
)

func runNotify(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "notify", "notify [flags] ASSET_ID")
	connect := clientFlags(env, fs)
	partners := fs.String("partners", "all", `comma-separated partner ids, or "all"`)
	key := fs.String("key", "", "idempotency key (default: a new one)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	req := intake.Request{AssetID: fs.Arg(0), IdempotencyKey: *key, Partners: intake.Partners{All: *partners == "all"}}
	if !req.Partners.All {
		req.Partners.IDs = strings.Split(*partners, ",")
	}
	resp, err := connect().Notify(ctx, req)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "PARTNER\tACTION\tDELIVERY\tSCOPE\tCHANGES\tNOTE\n")
	for _, d := range resp.Decisions {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", d.PartnerID, d.Action, dash(d.DeliveryID), dash(d.Scope), dash(strings.Join(d.Changes, ",")), d.Reason)
	}
	return w.Flush()
}

func runDeliveries(ctx context.Context, env *Env, args []string) error {
	if len(args) > 0 {
		if run, ok := deliveryCommands[args[0]]; ok {
			return run(ctx, env, args[1:])
		}
	}
	if len(args) == 0 || (args[0] != "list" && args[0] != "show") {
		fmt.Fprint(env.Stderr, deliveriesUsage)
		return errUsage
	}
	fs := newFlags(env, "deliveries "+args[0], "deliveries "+args[0]+" [flags]")
	connect := clientFlags(env, fs)
	partner := fs.String("partner", "", "only this partner")
	asset := fs.String("asset", "", "only this asset")
	status := fs.String("status", "", "only this status")
	limit := fs.Int("limit", 50, "at most this many")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	c := connect()
	if args[0] == "show" {
		if fs.NArg() != 1 {
			return fmt.Errorf("show needs one delivery id")
		}
		d, err := c.Delivery(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		return printJSON(env, d)
	}
	q := url.Values{"limit": {fmt.Sprint(*limit)}}
	for k, v := range map[string]string{"partner": *partner, "asset": *asset, "status": *status} {
		if v != "" {
			q.Set(k, v)
		}
	}
	list, err := c.Deliveries(ctx, q)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env, list)
	}
	w := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "DELIVERY\tASSET\tPARTNER\tACTION\tSTATUS\tATTEMPTS\tFILES\tBYTES\tERROR\n")
	for _, d := range list {
		action := string(d.Action)
		if d.MetadataOnly() {
			action += " (metadata)"
		}
		fmt.Fprintf(w, "%s\t%s@%d\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", d.ID, d.AssetID, d.AssetVersion, d.PartnerID, action,
			d.Status, d.Attempts, d.Files, d.Bytes, d.LastError)
	}
	return w.Flush()
}

func runAssets(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 || args[0] != "import" {
		fmt.Fprintln(env.Stderr, "Usage: syndicate assets import [flags] FILE   (JSON or YAML: one asset or a list)")
		return errUsage
	}
	fs := newFlags(env, "assets import", "assets import [flags] FILE")
	connect := clientFlags(env, fs)
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	assets, err := readAssets(fs.Arg(0))
	if err != nil {
		return err
	}
	c := connect()
	for i, a := range assets {
		resp, err := c.PutAsset(ctx, a)
		if err != nil {
			return fmt.Errorf("%s: asset %d (%s): %w", fs.Arg(0), i, a.ID, err)
		}
		state := "unchanged"
		if resp.Changed {
			state = "stored"
		}
		fmt.Fprintf(env.Stdout, "%s\tversion %d\t%s\n", a.ID, resp.Version, state)
	}
	return nil
}

// readAssets reads one asset or a list of assets from a JSON or YAML file.
func readAssets(path string) ([]domain.Asset, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if ext := strings.ToLower(filepath.Ext(path)); ext == ".yaml" || ext == ".yml" {
		var v any
		if err := yaml.Unmarshal(b, &v); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if b, err = json.Marshal(v); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	var list []domain.Asset
	if strings.HasPrefix(strings.TrimSpace(string(b)), "[") {
		err = json.Unmarshal(b, &list)
	} else {
		var a domain.Asset
		err = json.Unmarshal(b, &a)
		list = append(list, a)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return list, nil
}

func runPartners(ctx context.Context, env *Env, args []string) error {
	if len(args) > 0 && args[0] == "keys" {
		return runPartnerKeys(ctx, env, args[1:])
	}
	if len(args) > 0 && args[0] == "schema" {
		return runPartnersSchema(ctx, env, args[1:])
	}
	if len(args) > 0 && args[0] == "validate" {
		return runPartnersValidate(ctx, env, args[1:])
	}
	if len(args) > 0 {
		if run, ok := partnerCommands[args[0]]; ok {
			return run(ctx, env, args[1:])
		}
	}
	fmt.Fprint(env.Stderr, partnersUsage)
	return errUsage
}

func printJSON(env *Env, v any) error {
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
