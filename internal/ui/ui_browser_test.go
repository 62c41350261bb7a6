package ui_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/syndicate-media/syndicate/internal/domain"
)

const chromiumPath = "/usr/bin/chromium"

// loopbackOnly keeps Chromium on the page under test: no test may send a
// packet off loopback, DNS queries to the system resolver included. The
// background-networking flags alone are not enough (traced: Chromium 156
// still asked the system resolver for content-autofill.googleapis.com,
// update.googleapis.com, clients2.google.com and
// optimizationguide-pa.googleapis.com). The first two flags are the
// guarantee, whatever a feature tries; the rest keep the features from
// trying, so nothing is even attempted. internal/hermetic proves it with a
// DNS recorder and strace.
var loopbackOnly = []chromedp.ExecAllocatorOption{
	// Every host name resolves to "not found" without a DNS query. The
	// rules match IP literals too, so the loopback ones the tests use
	// (servers on 127.0.0.1) are excluded; they need no resolver.
	chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE [::1], EXCLUDE localhost"),
	// Anything that is not loopback goes to a proxy on a closed loopback
	// port (discard, 9): refused at once, and a proxied request resolves
	// no name itself. Chromium never proxies loopback (its implicit
	// <-loopback> bypass), so the test server is reached directly.
	chromedp.ProxyServer("http://127.0.0.1:9"),
	// No DNS prefetching or preconnecting from pages or the omnibox.
	chromedp.Flag("dns-prefetch-disable", true),
	// Background services: variations seed, safe-browsing updates,
	// component updater (update.googleapis.com, clients2.google.com),
	// sync, domain reliability reports, hyperlink auditing pings, crash
	// reports, UMA uploads.
	chromedp.Flag("disable-background-networking", true),
	chromedp.Flag("disable-component-update", true),
	chromedp.Flag("disable-sync", true),
	chromedp.Flag("disable-domain-reliability", true),
	chromedp.Flag("no-pings", true),
	chromedp.Flag("disable-breakpad", true),
	chromedp.Flag("metrics-recording-only", true),
	chromedp.Flag("disable-client-side-phishing-detection", true),
	chromedp.Flag("safebrowsing-disable-auto-update", true),
	chromedp.Flag("disable-default-apps", true),
	chromedp.Flag("disable-extensions", true),
	chromedp.Flag("disable-component-extensions-with-background-pages", true),
	// QUIC would open UDP flows of its own.
	chromedp.Flag("disable-quic", true),
	// Features that fetch from Google by themselves: form-field type
	// predictions (content-autofill.googleapis.com), optimization hints
	// and their models (optimizationguide-pa.googleapis.com), translation,
	// media router discovery (mDNS and SSDP on the LAN), network time,
	// DNS over HTTPS upgrades and probes, certificate transparency log
	// list updates.
	chromedp.Flag("disable-features", strings.Join([]string{
		"AutofillServerCommunication", "OptimizationHints", "OptimizationHintsFetching",
		"OptimizationGuideModelDownloading", "OptimizationTargetPrediction", "Translate",
		"MediaRouter", "DialMediaRouteProvider", "NetworkTimeServiceQuerying", "DnsOverHttps",
		"CertificateTransparencyComponentUpdater", "InterestFeedContentSuggestions",
	}, ",")),
}

// chrome is one headless Chromium tab driven by a test.
type chrome struct {
	t         *testing.T
	ctx       context.Context
	artifacts string
}

// newChrome starts headless Chromium with a fresh profile. Without
// Chromium the test skips, or fails in the full suite (SYNDICATE_FULL=1).
func newChrome(t *testing.T) *chrome {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("SYNDICATE_FULL") == "1" {
			t.Fatalf("the full suite needs Chromium at %s (apt-get install -y chromium): %v", chromiumPath, err)
		}
		t.Skipf("no Chromium at %s (apt-get install -y chromium)", chromiumPath)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 1000),
		chromedp.Flag("disable-dev-shm-usage", true),
	}
	opts = append(opts, loopbackOnly...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first action starts the browser; it must run without a timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	dir := os.Getenv("SYNDICATE_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	return &chrome{t: t, ctx: ctx, artifacts: dir}
}

// screenshot saves the whole page as NAME.png among the artifacts and
// returns its path. A page that is reloading is tried again.
func (c *chrome) screenshot(name string) string {
	var png []byte
	var err error
	for range 3 {
		ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
		png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
		cancel()
		if err == nil {
			break
		}
		time.Sleep(time.Second)
	}
	path := filepath.Join(c.artifacts, c.t.Name()+"-"+name+".png")
	if err == nil {
		err = os.MkdirAll(filepath.Dir(path), 0o755)
	}
	if err == nil {
		err = os.WriteFile(path, png, 0o644)
	}
	if err != nil {
		c.t.Logf("screenshot %s: %v", name, err)
		return "(no screenshot: " + err.Error() + ")"
	}
	return path
}

// fatalf ends the test with a screenshot of what the browser showed.
func (c *chrome) fatalf(format string, args ...any) {
	c.t.Helper()
	path := c.screenshot("failure")
	c.t.Logf("screenshot of the failure: %s", path)
	c.t.Fatalf(format, args...)
}

// do runs browser actions with a generous deadline.
func (c *chrome) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		c.fatalf("%s: %v", what, err)
	}
}

// until evaluates a JavaScript expression (a string) until ok accepts its
// value, and returns it. Errors while a page loads are retried.
func (c *chrome) until(what, expr string, ok func(string) bool) string {
	c.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var last string
	var lastErr error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		cancel()
		if err == nil && ok(v) {
			return v
		}
		last, lastErr = v, err
		time.Sleep(150 * time.Millisecond)
	}
	c.fatalf("%s: last value %q, error %v", what, last, lastErr)
	return ""
}

func textOf(id string) string {
	return fmt.Sprintf(`(document.getElementById(%q) || {textContent: ""}).textContent.trim()`, id)
}

func equals(want string) func(string) bool { return func(v string) bool { return v == want } }

func TestBrowser(t *testing.T) {
	c := newChrome(t)
	f := start(t)
	f.partner("fast", domain.Destination{URL: "file://" + t.TempDir()})
	f.partner("broken", brokenDestination(t))
	f.partner("slow", domain.Destination{URL: "file://" + t.TempDir(), MaxBytesPerSecond: 256 << 10})
	f.asset("ep-1", 64<<10)
	f.asset("ep-2", 3<<20) // about 12 s at 256 KiB/s
	ids := f.notify("ep-1", "fast", "broken")
	f.wait(ids["fast"], domain.StatusDelivered)
	f.wait(ids["broken"], domain.StatusFailed)

	// Sign in: the dashboard redirects to the sign-in page and back.
	c.do("open the dashboard", chromedp.Navigate(f.srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("token")))
	c.do("sign in", chromedp.SendKeys(chromedp.ID("token"), token), chromedp.Click(chromedp.ID("sign-in")))
	c.until("delivered count", textOf("count-delivered"), func(v string) bool { return strings.HasPrefix(v, "1") })
	c.until("failed count", textOf("count-failed"), func(v string) bool { return strings.HasPrefix(v, "1") })
	c.until("failing partners", textOf("failing"), func(v string) bool { return strings.Contains(v, "broken") })
	c.screenshot("dashboard")
	c.do("open the failed deliveries", chromedp.Click(chromedp.ID("count-failed")), chromedp.WaitVisible(chromedp.ID("deliveries")))
	c.until("the failed list", textOf("deliveries"), func(v string) bool {
		return strings.Contains(v, ids["broken"]) && !strings.Contains(v, ids["fast"])
	})
	c.do("list all deliveries", chromedp.Navigate(f.srv.URL+"/deliveries"), chromedp.WaitVisible(chromedp.ID("deliveries")))
	c.screenshot("deliveries")

	// A slow transfer: its page follows the progress by server-sent events.
	slow := f.notify("ep-2", "slow")["slow"]
	c.do("open the slow delivery", chromedp.Navigate(f.srv.URL+"/deliveries/"+slow), chromedp.WaitVisible(chromedp.ID("progress")))
	// Each new status reloads the page; within one, progress comes without
	// a reload, which would wipe this marker.
	c.until("the transfer status", textOf("status"), equals("transferring"))
	c.do("mark the page", chromedp.Evaluate[chromedp.Void](`window.sameLoad = true`))
	seen := map[string]bool{}
	c.until("the progress bar moving", `String(document.getElementById('progress').value) + ' ' + `+textOf("bytes")+` + ' ' + (window.sameLoad === true)`,
		func(v string) bool {
			if strings.HasSuffix(v, "true") && !strings.HasPrefix(v, "0 ") {
				seen[v] = true
			}
			return len(seen) >= 2
		})
	c.until("the rate", textOf("rate"), func(v string) bool { return strings.HasSuffix(v, "/s") })
	c.screenshot("delivery-transferring")
	// At the end the page reloads itself to show the finished delivery.
	c.until("the delivered status", textOf("status"), equals("delivered"))
	c.until("the location", textOf("location"), func(v string) bool { return strings.Contains(v, "ep-2") })
	c.until("the full bar", `String(document.getElementById('progress').value === document.getElementById('progress').max)`, equals("true"))

	// A failed delivery: retry, confirmed in a dialog.
	var dialogs atomic.Int32
	dctx, stopDialogs := context.WithCancel(c.ctx)
	defer stopDialogs()
	opening := chromedp.Events(dctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range opening {
			if err != nil {
				return
			}
			if ev.Type == page.DialogTypeConfirm {
				dialogs.Add(1)
			}
			go chromedp.Call(c.ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	c.do("open the failed delivery", chromedp.Navigate(f.srv.URL+"/deliveries/"+ids["broken"]), chromedp.WaitVisible(chromedp.ID("retry")))
	c.until("the failure", textOf("last-error"), func(v string) bool { return v != "" && v != "–" })
	c.screenshot("delivery-failed")
	c.do("press retry", chromedp.Click(chromedp.ID("retry")))
	c.until("the retry message", textOf("flash"), func(v string) bool { return strings.Contains(v, "queued again, as run 1") })
	c.until("the run", textOf("run"), equals("1"))
	if dialogs.Load() != 1 {
		c.fatalf("%d confirmation dialogs, want 1", dialogs.Load())
	}
	if d, _ := f.srv.Store.GetDelivery(t.Context(), ids["broken"]); d.Run != 1 {
		c.fatalf("after retry: %+v", d)
	}
	c.screenshot("delivery-retried")

	// A partner with a rollout in progress: versions, log and a diff.
	p := `{"id":"fast","name":"Fast","format":"json","destination":{"url":"file://` + t.TempDir() + `","max_bytes_per_second":1048576}}`
	if err := f.api.Do(t.Context(), "PUT", "/v1/partners/fast?rollout=25&message=cap+the+rate", "application/json", []byte(p), nil); err != nil {
		t.Fatal(err)
	}
	c.do("open the partner", chromedp.Navigate(f.srv.URL+"/partners/fast"), chromedp.WaitVisible(chromedp.ID("changes")))
	c.until("the rollout", textOf("rollout"), func(v string) bool { return strings.Contains(v, "version 2 serves 25%") })
	c.until("the diff", textOf("changes"), func(v string) bool { return strings.Contains(v, "destination.max_bytes_per_second") })
	c.screenshot("partner")
}
