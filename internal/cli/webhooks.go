package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/syndicate-media/syndicate/client"
	"github.com/syndicate-media/syndicate/internal/api"
	"github.com/syndicate-media/syndicate/internal/store"
)

const webhooksUsage = `Usage:
  syndicate webhooks add --url URL --secret env:NAME|file:/path [--types a,b] [--partners p,q] [--max-attempts N] [--kind webhook|nats]
  syndicate webhooks list [--json]
  syndicate webhooks test ID
  syndicate webhooks replay ID
  syndicate webhooks dead-letters ID
  syndicate webhooks remove ID`

func runWebhooks(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(env.Stderr, webhooksUsage)
		return errUsage
	}
	sub := args[0]
	fs := newFlags(env, "webhooks "+sub, "webhooks "+sub+" [flags]")
	connect := clientFlags(env, fs)
	switch sub {
	case "add":
		return webhooksAdd(ctx, env, fs, connect, args[1:])
	case "list":
		return webhooksList(ctx, env, fs, connect, args[1:])
	case "test", "replay", "dead-letters", "remove":
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			fmt.Fprintln(env.Stderr, webhooksUsage)
			return errUsage
		}
		return webhookByID(ctx, env, sub, fs.Arg(0), connect())
	}
	fmt.Fprintf(env.Stderr, "syndicate webhooks: unknown subcommand %q\n%s\n", sub, webhooksUsage)
	return errUsage
}

func webhooksAdd(ctx context.Context, env *Env, fs *flag.FlagSet, connect func() *client.Client, args []string) error {
	var req api.WebhookRequest
	fs.StringVar(&req.URL, "url", "", "receiver URL (http/https), or nats://host:port/subject.prefix with --kind nats")
	fs.StringVar(&req.Secret, "secret", "", "signing secret reference: env:NAME or file:/path (never the secret itself)")
	fs.StringVar(&req.Kind, "kind", "webhook", "webhook or nats")
	fs.IntVar(&req.MaxAttempts, "max-attempts", 0, "tries per event before it becomes a dead letter (0: the server's default)")
	types := fs.String("types", "", "only these event types, comma-separated (delivered = syndicate.delivery.delivered)")
	partners := fs.String("partners", "", "only events of these partners, comma-separated")
	if err := parse(fs, args); err != nil {
		return err
	}
	if req.URL == "" || fs.NArg() != 0 {
		fs.Usage()
		return errUsage
	}
	for _, t := range splitList(*types) {
		if !strings.Contains(t, ".") {
			t = store.EventType(t)
		}
		req.Types = append(req.Types, t)
	}
	req.Partners = splitList(*partners)
	k, err := connect().AddWebhook(ctx, req)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%s added: %s %s, events after %d\n", k.ID, k.Kind, k.Target, k.Cursor)
	return nil
}

func webhooksList(ctx context.Context, env *Env, fs *flag.FlagSet, connect func() *client.Client, args []string) error {
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	list, err := connect().Webhooks(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env, list)
	}
	w := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "ID\tKIND\tURL\tTYPES\tPARTNERS\tCURSOR\tFAILURES\tERROR\n")
	for _, k := range list {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%d/%d\t%s\n", k.ID, k.Kind, k.Target, orAll(k.Types), orAll(k.Partners),
			k.Cursor, k.Attempts, k.MaxAttempts, k.LastError)
	}
	return w.Flush()
}

func webhookByID(ctx context.Context, env *Env, sub, id string, c *client.Client) error {
	switch sub {
	case "test":
		res, err := c.TestWebhook(ctx, id)
		if err != nil {
			return err
		}
		if !res.OK {
			return fmt.Errorf("test event %s not taken: %s", res.EventID, res.Error)
		}
		status := ""
		if res.Status != 0 {
			status = fmt.Sprintf(" (HTTP %d)", res.Status)
		}
		fmt.Fprintf(env.Stdout, "test event %s taken%s\n", res.EventID, status)
	case "replay":
		n, err := c.ReplayWebhook(ctx, id)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "%d dead letters queued to be sent again\n", n)
	case "dead-letters":
		list, err := c.DeadLetters(ctx, id)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintf(w, "CURSOR\tEVENT\tTYPE\tSUBJECT\tREPLAY\tERROR\n")
		for _, d := range list {
			replay := "-"
			if d.ReplayedAt != nil {
				replay = "pending"
			}
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\n", d.PubSeq, d.EventID, d.EventType, d.Subject, replay, d.Error)
		}
		return w.Flush()
	case "remove":
		if err := c.RemoveWebhook(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "%s removed\n", id)
	}
	return nil
}

func runEvents(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "events", "events [--after N] [--follow] [flags]")
	connect := clientFlags(env, fs)
	after := fs.Int64("after", 0, "start after this cursor")
	follow := fs.Bool("follow", false, "keep waiting for new events")
	types := fs.String("type", "", "only these event types, comma-separated")
	partners := fs.String("partner", "", "only these partners, comma-separated")
	every := fs.Duration("interval", time.Second, "with --follow, how often to ask for new events")
	if err := parse(fs, args); err != nil {
		return err
	}
	c := connect()
	q := url.Values{"limit": {"500"}}
	if t := splitList(*types); len(t) > 0 {
		q.Set("type", strings.Join(t, ","))
	}
	if p := splitList(*partners); len(p) > 0 {
		q.Set("partner", strings.Join(p, ","))
	}
	cursor := *after
	for {
		q.Set("after", strconv.FormatInt(cursor, 10))
		page, err := c.Events(ctx, q)
		if err != nil {
			if *follow && errors.Is(ctx.Err(), context.Canceled) {
				return nil
			}
			return err
		}
		for _, raw := range page.Events {
			printEvent(env, raw)
		}
		cursor = page.Next
		if len(page.Events) > 0 {
			continue
		}
		if !*follow {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(*every):
		}
	}
}

// printEvent writes one line: cursor, time, type, subject, partner, id.
func printEvent(env *Env, raw json.RawMessage) {
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	get := func(k string) string { s, _ := m[k].(string); return s }
	fmt.Fprintf(env.Stdout, "%s %s %s %s %s %s\n", get("sequence"), get("time"), get("type"), get("subject"), orDash(get("partnerid")), get("id"))
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func orAll(list []string) string {
	if len(list) == 0 {
		return "all"
	}
	return strings.Join(list, ",")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
