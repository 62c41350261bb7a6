package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/syndicate-media/syndicate/client"
	"github.com/syndicate-media/syndicate/internal/api"
	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/feedback"
	"github.com/syndicate-media/syndicate/internal/secret"
)

func runPartnerKeys(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(env.Stderr, "Usage: syndicate partners keys create [--expires-in 720h] PARTNER | list PARTNER | revoke PARTNER KEY_ID")
		return errUsage
	}
	sub := args[0]
	fs := newFlags(env, "partners keys "+sub, "partners keys "+sub+" [flags] PARTNER [KEY_ID]")
	connect := clientFlags(env, fs)
	expires := fs.String("expires-in", "", "key lifetime, e.g. 720h (create; default: no expiry)")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	c := connect()
	partner := url.PathEscape(fs.Arg(0))
	switch {
	case sub == "create" && fs.NArg() == 1:
		var resp api.KeyResponse
		if err := c.Do(ctx, "POST", "/v1/partners/"+partner+"/keys", "", api.KeyRequest{ExpiresIn: *expires}, &resp); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "Key %s for partner %s (shown once; give it to the partner):\n%s\n", resp.Info.ID, resp.Info.PartnerID, resp.Key)
		return nil
	case sub == "list" && fs.NArg() == 1:
		var resp map[string]any
		if err := c.Do(ctx, "GET", "/v1/partners/"+partner+"/keys", "", nil, &resp); err != nil {
			return err
		}
		return printJSON(env, resp["keys"])
	case sub == "revoke" && fs.NArg() == 2:
		return c.Do(ctx, "DELETE", "/v1/partners/"+partner+"/keys/"+url.PathEscape(fs.Arg(1)), "", nil, nil)
	}
	fs.Usage()
	return errUsage
}

// runFeedback plays the partner's side of the feedback API, so an
// integration can be tried before the partner builds theirs.
func runFeedback(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 || args[0] != "send" {
		fmt.Fprintln(env.Stderr, "Usage: syndicate feedback send --key KEY [--sign env:NAME] DELIVERY_ID received|processed|rejected [REASON]")
		return errUsage
	}
	fs := newFlags(env, "feedback send", "feedback send --key KEY [flags] DELIVERY_ID STATUS [REASON]")
	server := fs.String("server", envOr(env, "SYNDICATE_URL", "http://127.0.0.1:8080"), "server URL (env SYNDICATE_URL)")
	key := fs.String("key", env.Getenv("SYNDICATE_PARTNER_KEY"), "the partner's API key (env SYNDICATE_PARTNER_KEY)")
	sign := fs.String("sign", "", "sign the request with this secret reference (env:NAME or file:/path)")
	ref := fs.String("reference", "", "the partner's own reference for the package")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() < 2 || fs.NArg() > 3 || *key == "" {
		fs.Usage()
		return errUsage
	}
	rep := feedback.Report{Status: domain.Ack(fs.Arg(1)), Reason: fs.Arg(2), Reference: *ref}
	body, _ := json.Marshal(rep)
	c := client.New(strings.TrimRight(*server, "/"), *key)
	headers := map[string]string{}
	if *sign != "" {
		sec, err := secret.Resolve(*sign)
		if err != nil {
			return err
		}
		ts := time.Now().Unix()
		headers["Syndicate-Timestamp"] = strconv.FormatInt(ts, 10)
		headers["Syndicate-Signature"] = feedback.Sign(sec, ts, body)
	}
	var res feedback.Result
	if err := c.DoHeaders(ctx, "POST", "/v1/partner/deliveries/"+url.PathEscape(fs.Arg(0))+"/feedback", headers, bytes.Clone(body), &res); err != nil {
		return err
	}
	note := ""
	if res.Duplicate {
		note = " (already recorded)"
	}
	if res.Redelivery != "" {
		note += ", redelivery " + res.Redelivery
	}
	fmt.Fprintf(env.Stdout, "delivery %s: ack %s%s\n", res.Delivery.ID, res.Delivery.Ack, note)
	return nil
}
