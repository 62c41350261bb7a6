package cli

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/syndicate-media/syndicate/client"
	"github.com/syndicate-media/syndicate/internal/api"
	"github.com/syndicate-media/syndicate/internal/domain"
)

const deliveriesUsage = `Usage:
  syndicate deliveries list [--partner P] [--asset A] [--status S] [--limit N] [--json]
  syndicate deliveries show ID
  syndicate deliveries watch [ID...] [--partner P]    (progress bars until they finish)
  syndicate deliveries cancel ID
  syndicate deliveries retry ID                        (a failed or cancelled delivery, as a new run)
  syndicate deliveries priority ID N                   (0 most urgent … 1000; queued deliveries only)
`

var deliveryCommands = map[string]func(ctx context.Context, env *Env, args []string) error{
	"watch":    runDeliveriesWatch,
	"cancel":   deliveryAction("cancel"),
	"retry":    deliveryAction("retry"),
	"priority": deliveryAction("priority"),
}

func deliveryAction(action string) func(ctx context.Context, env *Env, args []string) error {
	return func(ctx context.Context, env *Env, args []string) error {
		fs := newFlags(env, "deliveries "+action, "deliveries "+action+" ID"+map[bool]string{true: " N"}[action == "priority"])
		connect := clientFlags(env, fs)
		want := 1
		if action == "priority" {
			want = 2
		}
		if err := parse(fs, args); err != nil || fs.NArg() != want {
			return usageOr(fs, err)
		}
		var body any
		if action == "priority" {
			n, err := strconv.Atoi(fs.Arg(1))
			if err != nil {
				return fmt.Errorf("priority: want a number, got %q", fs.Arg(1))
			}
			body = api.PriorityRequest{Priority: &n}
		}
		var d domain.Delivery
		if err := connect().Do(ctx, "POST", "/v1/deliveries/"+url.PathEscape(fs.Arg(0))+"/"+action, "", body, &d); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "delivery %s: %s (priority %d, run %d)\n", d.ID, d.Status, d.Priority, d.Run)
		return nil
	}
}

// runDeliveriesWatch redraws one progress line per delivery until every
// watched delivery has finished (or, without ids, none is active).
func runDeliveriesWatch(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "deliveries watch", "deliveries watch [ID...] [--partner P]")
	connect := clientFlags(env, fs)
	partner := fs.String("partner", "", "only this partner (without ids)")
	every := fs.Duration("interval", time.Second, "refresh interval")
	if err := parse(fs, reorder(args)); err != nil {
		return err
	}
	c := connect()
	ids := fs.Args()
	drawn := 0
	for {
		list, err := watched(ctx, c, ids, *partner)
		if err != nil {
			return err
		}
		if drawn > 0 && isTerminal(env) {
			fmt.Fprintf(env.Stdout, "\033[%dA", drawn) // back to the first line and redraw
		}
		active := 0
		for _, d := range list {
			if isTerminal(env) {
				fmt.Fprint(env.Stdout, "\033[2K")
			}
			fmt.Fprintln(env.Stdout, progressLine(d))
			if !d.Status.Terminal() {
				active++
			}
		}
		drawn = len(list)
		if active == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(*every):
		}
		if !isTerminal(env) {
			fmt.Fprintln(env.Stdout)
		}
	}
}

func watched(ctx context.Context, c *client.Client, ids []string, partner string) ([]domain.Delivery, error) {
	if len(ids) == 0 {
		q := url.Values{"limit": {"1000"}}
		if partner != "" {
			q.Set("partner", partner)
		}
		all, err := c.Deliveries(ctx, q)
		var active []domain.Delivery
		for _, d := range all {
			if !d.Status.Terminal() {
				active = append(active, d)
			}
		}
		return active, err
	}
	var out []domain.Delivery
	for _, id := range ids {
		d, err := c.Delivery(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// progressLine: id, partner, status, a bar, percent, rate and ETA.
func progressLine(d domain.Delivery) string {
	const width = 24
	frac := 0.0
	switch {
	case d.Status == domain.StatusDelivered:
		frac = 1
	case d.TotalBytes > 0:
		frac = min(float64(d.Bytes)/float64(d.TotalBytes), 1)
	}
	n := int(frac * width)
	bar := "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
	line := fmt.Sprintf("%-36s %-12s %-12s %s %3.0f%%", d.ID, d.PartnerID, d.Status, bar, frac*100)
	if d.Rate > 0 {
		line += fmt.Sprintf("  %6.1f MB/s", float64(d.Rate)/1e6)
	}
	if eta := d.ETA(); eta > 0 {
		line += "  ETA " + eta.Round(time.Second).String()
	}
	if d.LastError != "" {
		line += "  " + d.LastError
	}
	return line
}

// isTerminal reports whether stdout is a terminal that can redraw lines.
func isTerminal(env *Env) bool {
	f, ok := env.Stdout.(*os.File)
	if !ok || env.Getenv("TERM") == "dumb" {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
