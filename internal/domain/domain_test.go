package domain

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestTransitions(t *testing.T) {
	allowed := map[[2]Status]bool{
		{StatusQueued, StatusPackaging}:          true,
		{StatusQueued, StatusFailed}:             true,
		{StatusQueued, StatusCancelled}:          true,
		{StatusPackaging, StatusPackaging}:       true,
		{StatusPackaging, StatusTransferring}:    true,
		{StatusPackaging, StatusFailed}:          true,
		{StatusPackaging, StatusCancelled}:       true,
		{StatusTransferring, StatusTransferring}: true,
		{StatusTransferring, StatusDelivered}:    true,
		{StatusTransferring, StatusFailed}:       true,
		{StatusTransferring, StatusCancelled}:    true,
		{StatusFailed, StatusQueued}:             true,
		{StatusCancelled, StatusQueued}:          true,
	}
	// Every pair of states is checked, so a new edge in the table must be
	// added here too.
	for _, from := range Statuses {
		for _, to := range Statuses {
			err := CheckTransition(from, to)
			want := allowed[[2]Status{from, to}]
			if want && err != nil {
				t.Errorf("%s -> %s: unexpected error %v", from, to, err)
			}
			if !want {
				var te *TransitionError
				if !errors.As(err, &te) || te.From != from || te.To != to {
					t.Errorf("%s -> %s: err = %v, want *TransitionError", from, to, err)
				}
			}
		}
	}
	if err := CheckTransition("bogus", StatusQueued); err == nil {
		t.Error("unknown from-status accepted")
	}
}

func TestDeliveryTransitionTimestamps(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d := Delivery{Status: StatusQueued}
	for i, to := range []Status{StatusPackaging, StatusTransferring, StatusTransferring, StatusDelivered} {
		if err := d.Transition(to, t0.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if d.StartedAt == nil || !d.StartedAt.Equal(t0) || d.FinishedAt == nil || d.Seconds() != 3 {
		t.Fatalf("timestamps: started %v finished %v seconds %v", d.StartedAt, d.FinishedAt, d.Seconds())
	}
	if err := d.Transition(StatusQueued, t0); err == nil || d.Status != StatusDelivered {
		t.Fatalf("delivered -> queued: err %v status %s", err, d.Status)
	}
}

func validAsset() Asset {
	return Asset{ID: "ep-1", Type: "episode", Title: "Pilot",
		Media:  []MediaFile{{Role: "main", URI: "/m.mp4"}},
		Images: []Image{{Role: "cover", URI: "/c.png", Width: 1920, Height: 1080}}}
}

func TestAssetValidate(t *testing.T) {
	if err := validAsset().Validate(); err != nil {
		t.Fatalf("valid asset: %v", err)
	}
	cases := map[string]struct {
		mut  func(*Asset)
		want string
	}{
		"bad id":       {func(a *Asset) { a.ID = "../x" }, "id:"},
		"bad type":     {func(a *Asset) { a.Type = "podcast" }, "type:"},
		"no title":     {func(a *Asset) { a.Title = "" }, "title:"},
		"no media":     {func(a *Asset) { a.Media = nil }, "media:"},
		"dup role":     {func(a *Asset) { a.Images[0].Role = "main" }, "used twice"},
		"bad sha":      {func(a *Asset) { a.Media[0].SHA256 = "xyz" }, "media[0].sha256"},
		"no uri":       {func(a *Asset) { a.Images[0].URI = "" }, "images[0].uri"},
		"neg size":     {func(a *Asset) { a.Media[0].Size = -1 }, "media[0].size"},
		"bad role":     {func(a *Asset) { a.Media[0].Role = "Main Video" }, "media[0].role"},
		"neg image px": {func(a *Asset) { a.Images[0].Width = -5 }, "negative pixel"},
	}
	for name, c := range cases {
		a := validAsset()
		c.mut(&a)
		err := a.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to mention %q", name, err, c.want)
		}
	}
}

func TestContentHashStable(t *testing.T) {
	a, b := validAsset(), validAsset()
	a.Metadata = map[string]any{"b": 1, "a": "x"}
	b.Metadata = map[string]any{"a": "x", "b": 1}
	if a.ContentHash() != b.ContentHash() {
		t.Fatal("same content, different hash")
	}
	b.Title = "Other"
	if a.ContentHash() == b.ContentHash() {
		t.Fatal("different content, same hash")
	}
}

func validPartner() Partner {
	return Partner{ID: "acme", Name: "Acme", Format: "json",
		Destination: Destination{URL: "sftp://u@h:22/in", Credentials: "env:ACME_KEY", HostKey: "SHA256:x"}}
}

func TestPartnerValidate(t *testing.T) {
	if err := validPartner().Validate(); err != nil {
		t.Fatalf("valid partner: %v", err)
	}
	cases := map[string]struct {
		mut  func(*Partner)
		want string
	}{
		"bad id":          {func(p *Partner) { p.ID = "Acme Corp" }, "id:"},
		"no name":         {func(p *Partner) { p.Name = " " }, "name:"},
		"no format":       {func(p *Partner) { p.Format = "" }, "format:"},
		"relative url":    {func(p *Partner) { p.Destination.URL = "inbox/" }, "destination.url"},
		"password in url": {func(p *Partner) { p.Destination.URL = "sftp://u:hunter2@h/in" }, "must not contain a password"},
		"literal secret":  {func(p *Partner) { p.Destination.Credentials = "hunter2" }, "secret reference"},
		"relative file":   {func(p *Partner) { p.Destination.Credentials = "file:key.pem" }, "secret reference"},
		"neg rate":        {func(p *Partner) { p.Destination.MaxBytesPerSecond = -1 }, "max_bytes_per_second"},
		"streams":         {func(p *Partner) { p.Destination.Streams = MaxStreams + 1 }, "destination.streams"},
		"bad placeholder": {func(p *Partner) { p.Destination.Path = "{title}" }, "unknown placeholder"},
		"attempts":        {func(p *Partner) { p.Retry.MaxAttempts = 1000 }, "retry.max_attempts"},
	}
	for name, c := range cases {
		p := validPartner()
		c.mut(&p)
		err := p.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to mention %q", name, err, c.want)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: error leaks the secret: %v", name, err)
		}
	}
}

func TestPackageDir(t *testing.T) {
	p := validPartner()
	p.Defaults()
	if got := p.PackageDir("ep-1", "d1"); got != "ep-1" {
		t.Fatalf("default PackageDir = %q", got)
	}
	p.Destination.Path = "/incoming/{asset_id}/{delivery_id}/"
	if got := p.PackageDir("ep-1", "d1"); got != "incoming/ep-1/d1" {
		t.Fatalf("PackageDir = %q", got)
	}
}

func TestAck(t *testing.T) {
	now := time.Now()
	allowed := map[[2]Ack]bool{
		{AckNone, AckReceived}: true, {AckNone, AckProcessed}: true, {AckNone, AckRejected}: true, {AckNone, AckUnacknowledged}: true,
		{AckUnacknowledged, AckReceived}: true, {AckUnacknowledged, AckProcessed}: true, {AckUnacknowledged, AckRejected}: true,
		{AckReceived, AckProcessed}: true, {AckReceived, AckRejected}: true,
	}
	all := []Ack{AckNone, AckReceived, AckProcessed, AckRejected, AckUnacknowledged}
	for _, from := range all {
		for _, to := range all {
			d := Delivery{Status: StatusDelivered, Ack: from}
			err := d.SetAck(to, "r", now)
			if want := allowed[[2]Ack{from, to}]; want != (err == nil) {
				t.Errorf("%q -> %q: err = %v, want allowed=%v", from, to, err, want)
			}
			if err != nil && d.Ack != from {
				t.Errorf("%q -> %q refused but changed the delivery", from, to)
			}
		}
	}
	d := Delivery{Status: StatusTransferring}
	if err := d.SetAck(AckReceived, "", now); err == nil || !strings.Contains(err.Error(), "only once it is delivered") {
		t.Errorf("ack before delivered: %v", err)
	}
}

func TestRolloutVersionFor(t *testing.T) {
	r := Rollout{Active: 3, Candidate: 4, Percent: 30}
	n := 0
	for i := range 10000 {
		id := fmt.Sprintf("asset-%d", i)
		v := r.VersionFor("acme", id)
		if v == 4 {
			n++
		}
		if v != r.VersionFor("acme", id) {
			t.Fatal("not stable for one asset")
		}
	}
	if n < 2700 || n > 3300 {
		t.Fatalf("30%% rollout sent %d of 10000 assets to the candidate", n)
	}
	if v := (Rollout{Active: 3}).VersionFor("acme", "x"); v != 3 {
		t.Fatalf("no rollout: %d", v)
	}
}

func TestShouldRollBack(t *testing.T) {
	p := RolloutPolicy{Window: 4, MaxFailureRate: 0.5}
	x, o := true, false // x failed, o fine
	for _, c := range []struct {
		failed []bool
		want   bool
	}{
		{[]bool{x, x, x}, false},             // window not full
		{[]bool{x, x, o, o}, false},          // 50% is not above 50%
		{[]bool{x, x, x, o}, true},           // 75%
		{[]bool{o, o, o, o, x, x, x}, false}, // only the newest 4 count
	} {
		if got := p.ShouldRollBack(c.failed); got != c.want {
			t.Errorf("%v: %v, want %v", c.failed, got, c.want)
		}
	}
}

func TestRules(t *testing.T) {
	a := validAsset()
	a.Metadata = map[string]any{"territories": []any{"GB", "IE"}, "synopsis": "x", "empty": ""}
	cases := []struct {
		rules Rules
		want  string // "" passes
	}{
		{Rules{}, ""},
		{Rules{ContentTypes: []string{"episode", "movie"}}, ""},
		{Rules{ContentTypes: []string{"movie"}}, `type "episode" is not one of [movie]`},
		{Rules{Territories: []string{"IE", "FR"}}, ""},
		{Rules{Territories: []string{"FR"}}, "territories [GB IE] share none of [FR]"},
		{Rules{RequiredFields: []string{"title", "metadata.synopsis", "images.cover", "media.main"}}, ""},
		{Rules{RequiredFields: []string{"metadata.rating", "metadata.empty", "images.poster"}}, "missing required fields: metadata.rating, metadata.empty, images.poster"},
	}
	for _, c := range cases {
		err := c.rules.Check(a)
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v: err = %v, want %q", c.rules, err, c.want)
		}
	}
	noTerritories := validAsset()
	if err := (Rules{Territories: []string{"FR"}}).Check(noTerritories); err != nil {
		t.Errorf("an asset without territories is unrestricted: %v", err)
	}
	p := validPartner()
	p.Rules.RequiredFields = []string{"synopsis"}
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), `"synopsis" is not title`) {
		t.Errorf("bad field path accepted: %v", err)
	}
}

func TestRights(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	before, after := now.Add(-time.Hour), now.Add(time.Hour)
	for name, c := range map[string]struct {
		r       *Rights
		errText string
	}{
		"none":          {nil, ""},
		"start only":    {&Rights{Start: &before}, ""},
		"both":          {&Rights{Start: &before, End: &after}, ""},
		"empty":         {&Rights{}, "give start, end or both"},
		"end first":     {&Rights{Start: &after, End: &before}, "rights.end: must be after rights.start"},
		"zero edge":     {&Rights{End: &time.Time{}}, "zero time"},
		"equal instant": {&Rights{Start: &now, End: &now}, "must be after"},
	} {
		err := c.r.Validate()
		if (err == nil) != (c.errText == "") || err != nil && !strings.Contains(err.Error(), c.errText) {
			t.Errorf("%s: %v, want %q", name, err, c.errText)
		}
	}
	r := &Rights{Start: &after, End: &after}
	if !r.NotYet(now) || r.Ended(now) || (&Rights{End: &now}).Ended(now) == false {
		t.Error("NotYet/Ended disagree with the window")
	}
	a := Asset{ID: "a", Type: "movie", Title: "T", Media: []MediaFile{{Role: "main", URI: "/m"}}}
	h := a.ContentHash()
	local := after.In(time.FixedZone("x", 3600))
	a.Rights = &Rights{End: &after}
	b := a
	b.Rights = &Rights{End: &local}
	if a.ContentHash() == h || a.ContentHash() != b.ContentHash() {
		t.Error("ContentHash: rights must count, written in any zone")
	}
	if !ValidField("rights") || !ValidField("rights.end") || ValidField("rights.middle") {
		t.Error("ValidField rights")
	}
	if (Rules{RequiredFields: []string{"rights.start"}}).Check(a) == nil || (Rules{RequiredFields: []string{"rights"}}).Check(a) != nil {
		t.Error("rules: rights fields")
	}
}
