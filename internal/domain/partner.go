package domain

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"text/template/parse"
	"time"
	"unicode"
	"unicode/utf8"
)

// Partner is a partner profile: who receives, where, in which format, and
// how hard to try. Secrets are never stored here, only references to them.
type Partner struct {
	ID          string        `json:"id"`
	Name        string        `json:"name"`
	Format      string        `json:"format"`
	Destination Destination   `json:"destination"`
	Retry       Retry         `json:"retry,omitzero"`
	Feedback    Feedback      `json:"feedback,omitzero"`
	Rollout     RolloutPolicy `json:"rollout,omitzero"`
	Rules       Rules         `json:"rules,omitzero"`
	// Priority orders this partner's deliveries in the queue: lower
	// numbers go first (1-1000, default 100). A notification may override
	// it, down to 0 for the most urgent content.
	Priority int `json:"priority,omitempty"`
	// Package shapes what is sent.
	Package Package `json:"package,omitzero"`
	// StartsPerMinute limits how many transfers to this partner may start
	// per minute, across all processes; 0 is no limit.
	StartsPerMinute int `json:"starts_per_minute,omitempty"`
	// Concurrency is how many of this partner's deliveries may transfer at
	// once, across all processes (1-8, default 2).
	Concurrency int `json:"concurrency,omitempty"`
	// Shadow, when set, receives the packages instead of Destination:
	// everything runs, nothing reaches the partner, and the result can be
	// compared with what a legacy system delivered.
	Shadow *Destination `json:"shadow,omitempty"`
	// FormatOptions tune the metadata format named by Format.
	FormatOptions FormatOptions `json:"format_options,omitzero"`
}

// Feedback says how a partner reports back and what Syndicate does about
// silence and rejections.
type Feedback struct {
	// AckTimeout marks a delivered package unacknowledged when no feedback
	// came within this time; 0 means never.
	AckTimeout Duration `json:"ack_timeout,omitzero"`
	// RequireSignature makes the feedback API refuse requests without a
	// valid HMAC-SHA256 signature made with SigningSecret.
	RequireSignature bool `json:"require_signature,omitempty"`
	// SigningSecret is a secret reference (env:NAME, file:/absolute/path
	// or aws-ssm:/parameter/name).
	SigningSecret string `json:"signing_secret,omitempty"`
	// RedeliverOnReject sends a rejected package again, at most this many
	// times per asset version; 0 means never.
	RedeliverOnReject int `json:"redeliver_on_reject,omitempty"`
	// RequestsPerSecond limits the partner's feedback API calls (default 10).
	RequestsPerSecond float64 `json:"requests_per_second,omitempty"`
	// Receipt, when set, polls a status file the partner drops into each
	// package folder.
	Receipt *Receipt `json:"receipt,omitempty"`
}

// Receipt is a status file a partner writes next to a delivered package.
type Receipt struct {
	// Name is the file's name inside the package folder, e.g. status.csv.
	Name string `json:"name"`
	// Format is the parser: json or csv.
	Format string `json:"format"`
}

// Destination is where a partner's packages land.
type Destination struct {
	// URL is where packages go: file:///abs/dir, sftp://user@host:port/dir,
	// ftp://user@host:port/dir, ftps://user@host:port/dir (explicit TLS),
	// s3://bucket/prefix (with endpoint and region), or
	// https://host/dir (http:// too): WebDAV or plain PUT.
	URL string `json:"url"`
	// Credentials is a secret reference: env:NAME, file:/absolute/path or
	// aws-ssm:/parameter/name. It holds a password, a PEM private key
	// (sftp), ACCESS_KEY_ID:SECRET_ACCESS_KEY (s3; none: the AWS default
	// chain), or user:password or a bearer token (https).
	Credentials string `json:"credentials,omitempty"`
	// HostKey pins the server's key fingerprint (SHA256:...).
	HostKey string `json:"host_key,omitempty"`
	// KnownHosts is a known_hosts file that holds the server's key.
	KnownHosts string `json:"known_hosts,omitempty"`
	// InsecureIgnoreHostKey accepts any server key; for tests only.
	InsecureIgnoreHostKey bool `json:"insecure_ignore_host_key,omitempty"`
	// Endpoint and Region address an S3-compatible object store for s3://
	// URLs (empty Endpoint: AWS).
	Endpoint string `json:"endpoint,omitempty"`
	Region   string `json:"region,omitempty"`
	// MaxBytesPerSecond caps the transfer rate to this partner; 0 is no cap.
	MaxBytesPerSecond int64 `json:"max_bytes_per_second,omitempty"`
	// Streams is how many SFTP connections one file of 64 MiB or more
	// may use at once (1-8). Each has its own 2 MiB window, so over a
	// long link several go several times faster. Default: 4 for a server
	// 2 ms or more away (measured before the first large file), 1 nearer.
	// A server that refuses the extra logins gets the file over those it
	// accepted.
	Streams int `json:"streams,omitempty"`
	// Path is the folder under the URL's root for each package; it may use
	// {asset_id} and {delivery_id}. Default "{asset_id}".
	Path string `json:"path,omitempty"`
}

// Retry says how often a failing transfer is tried again.
type Retry struct {
	// MaxAttempts is the number of transfer attempts; default 5.
	MaxAttempts int `json:"max_attempts,omitempty"`
	// BaseInterval is the wait before the second attempt, doubled after
	// each further one (at most 10 minutes apart); default 2s.
	BaseInterval Duration `json:"base_interval,omitzero"`
	// Deadline, when set, keeps retrying transient failures (past
	// MaxAttempts) until this long after the delivery started.
	Deadline Duration `json:"deadline,omitzero"`
}

// Defaults fills unset fields with their documented defaults.
func (p *Partner) Defaults() {
	if p.Retry.MaxAttempts == 0 {
		p.Retry.MaxAttempts = 5
	}
	if p.Retry.BaseInterval == 0 {
		p.Retry.BaseInterval = Duration(2 * time.Second)
	}
	if p.Destination.Path == "" {
		p.Destination.Path = "{asset_id}"
	}
	if p.Feedback.RequestsPerSecond == 0 {
		p.Feedback.RequestsPerSecond = 10
	}
	if p.Priority == 0 {
		p.Priority = 100
	}
	if p.Concurrency == 0 {
		p.Concurrency = 2
	}
	if p.Shadow != nil && p.Shadow.Path == "" {
		p.Shadow.Path = p.Destination.Path
	}
}

// Package says how a delivery's files are sent.
type Package struct {
	// Archive sends the files as one archive built while uploading: tar,
	// tgz or zip (stored, uncompressed); empty sends them as they are.
	// The manifest is the archive's last entry, and NAME.sha256 next to
	// the archive, written last, holds its checksum.
	Archive string `json:"archive,omitempty"`
	// Video, when set, is the one video the package carries for its role:
	// a rendition that matches it, or one transcoded to it.
	Video *VideoSpec `json:"video,omitempty"`
	// Naming overrides file names per kind (media, image, subtitle,
	// metadata) with placeholders {asset_id} {role} {ext} {type}
	// {version} {width} {height}; e.g. "{asset_id}_{role}{ext}".
	Naming map[string]string `json:"naming,omitempty"`
	// MD5Sidecars writes NAME.md5 ("<md5>  <name>") after each file.
	MD5Sidecars bool `json:"md5_sidecars,omitempty"`
	// ManifestMD5 adds each file's md5 to the manifest beside its sha256.
	// The md5 is hashed while uploading (unless the metadata format
	// needed it already) and costs about as much CPU as the upload
	// itself; md5_sidecars implies it.
	ManifestMD5 bool `json:"manifest_md5,omitempty"`
	// CompletionMarker names an empty file written after everything else
	// (placeholders {asset_id} {delivery_id}), e.g. "{asset_id}.done".
	CompletionMarker string `json:"completion_marker,omitempty"`
	// Images are derivatives made from the asset's images for this
	// partner: each resized, cropped and encoded to its spec.
	Images []ImageSpec `json:"images,omitempty"`
	// Subtitles is the subtitle format the partner takes: webvtt or srt
	// (subtitle files are converted to it); empty sends them as they are.
	Subtitles string `json:"subtitles,omitempty"`
}

// WantsMD5 reports whether the package's manifest lists md5s.
func (p Package) WantsMD5() bool { return p.MD5Sidecars || p.ManifestMD5 }

// SubtitleFormats are the values Package.Subtitles accepts.
var SubtitleFormats = []string{"webvtt", "srt"}

// ArchiveKinds are the values Package.Archive accepts.
var ArchiveKinds = []string{"tar", "tgz", "zip"}

// MaxStreams is the most connections destination.streams may ask for one
// file.
const MaxStreams = 8

// MaxConcurrency is the highest per-partner concurrency a profile may ask.
const MaxConcurrency = 8

// Target is where packages actually go: the shadow destination when the
// partner is in shadow mode, else the real one.
func (p Partner) Target() Destination {
	if p.Shadow != nil {
		return *p.Shadow
	}
	return p.Destination
}

var (
	partnerID  = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
	secretRef  = regexp.MustCompile(`^(env:[A-Za-z_][A-Za-z0-9_]*|file:/.+|aws-ssm:/[A-Za-z0-9_.\-/]+)$`)
	pathTokens = regexp.MustCompile(`\{[a-z_]+\}`)
)

// Validate reports every problem with the profile, each naming its field.
func (p Partner) Validate() error {
	var errs []error
	if !partnerID.MatchString(p.ID) {
		errs = append(errs, fmt.Errorf("id: %q must be 1-63 lowercase letters, digits, _ or -", p.ID))
	}
	if strings.TrimSpace(p.Name) == "" {
		errs = append(errs, errors.New("name: required"))
	}
	if p.Format == "" {
		errs = append(errs, errors.New("format: required (e.g. json)"))
	}
	d := p.Destination
	if u, err := url.Parse(d.URL); err != nil || u.Scheme == "" {
		errs = append(errs, errors.New("destination.url: not a valid absolute URL (scheme://[user@]host/path)"))
	} else if _, has := u.User.Password(); has {
		errs = append(errs, errors.New("destination.url: must not contain a password; use destination.credentials: env:NAME, file:/absolute/path or aws-ssm:/parameter/name"))
	}
	if d.Credentials != "" && !secretRef.MatchString(d.Credentials) {
		errs = append(errs, errors.New("destination.credentials: must be a secret reference env:NAME, file:/absolute/path or aws-ssm:/parameter/name, not the secret itself"))
	}
	if d.MaxBytesPerSecond < 0 {
		errs = append(errs, errors.New("destination.max_bytes_per_second: negative"))
	}
	if d.Streams < 0 || d.Streams > MaxStreams {
		errs = append(errs, fmt.Errorf("destination.streams: must be 1-%d (0: the default)", MaxStreams))
	}
	for _, tok := range pathTokens.FindAllString(d.Path, -1) {
		if tok != "{asset_id}" && tok != "{delivery_id}" {
			errs = append(errs, fmt.Errorf("destination.path: unknown placeholder %s (have {asset_id}, {delivery_id})", tok))
		}
	}
	if p.Retry.MaxAttempts < 0 || p.Retry.MaxAttempts > 100 {
		errs = append(errs, errors.New("retry.max_attempts: must be 1-100"))
	}
	if p.Retry.BaseInterval < 0 {
		errs = append(errs, errors.New("retry.base_interval: negative"))
	}
	errs = append(errs, p.Feedback.validate()...)
	for _, f := range p.Rules.RequiredFields {
		if !ValidField(f) {
			errs = append(errs, fmt.Errorf("rules.required_fields: %q is not title, metadata.<key>, images.<role>, media.<role> or rights[.start|.end]", f))
		}
	}
	if p.Priority < 0 || p.Priority > 1000 {
		errs = append(errs, errors.New("priority: must be 1-1000 (lower goes first)"))
	}
	if a := p.Package.Archive; a != "" && !slices.Contains(ArchiveKinds, a) {
		errs = append(errs, fmt.Errorf("package.archive: %q is not one of %v", a, ArchiveKinds))
	}
	errs = append(errs, p.Package.validate()...)
	if f := p.Package.Subtitles; f != "" && !slices.Contains(SubtitleFormats, f) {
		errs = append(errs, fmt.Errorf("package.subtitles: %q is not one of %v (or empty: as they are)", f, SubtitleFormats))
	}
	errs = append(errs, validateImages(p.Package.Images)...)
	if p.StartsPerMinute < 0 || p.StartsPerMinute > 6000 {
		errs = append(errs, errors.New("starts_per_minute: must be 0-6000"))
	}
	if p.Concurrency < 0 || p.Concurrency > MaxConcurrency {
		errs = append(errs, fmt.Errorf("concurrency: must be 1-%d", MaxConcurrency))
	}
	if p.Retry.Deadline < 0 {
		errs = append(errs, errors.New("retry.deadline: negative"))
	}
	if p.Shadow != nil {
		if u, err := url.Parse(p.Shadow.URL); err != nil || u.Scheme == "" {
			errs = append(errs, errors.New("shadow.url: not a valid absolute URL (scheme://[user@]host/path)"))
		}
		if p.Shadow.Credentials != "" && !secretRef.MatchString(p.Shadow.Credentials) {
			errs = append(errs, errors.New("shadow.credentials: must be a secret reference"))
		}
	}
	if p.Rollout.Window < 0 || p.Rollout.Window > 1000 {
		errs = append(errs, errors.New("rollout.window: must be 1-1000"))
	}
	if p.Rollout.MaxFailureRate < 0 || p.Rollout.MaxFailureRate > 1 {
		errs = append(errs, errors.New("rollout.max_failure_rate: must be between 0 and 1"))
	}
	errs = append(errs, p.FormatOptions.validate(p.Format)...)
	return errors.Join(errs...)
}

// PackageDir is the folder, relative to the destination root, that receives
// a delivery's files.
func (p Partner) PackageDir(assetID, deliveryID string) string {
	r := strings.NewReplacer("{asset_id}", assetID, "{delivery_id}", deliveryID)
	return strings.Trim(r.Replace(p.Target().Path), "/")
}

// Duration is a time.Duration written as "2s", "1m30s" in JSON and YAML.
type Duration time.Duration

// MarshalJSON writes the duration as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a Go duration string such as "2s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration string like \"2s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

func (f Feedback) validate() []error {
	var errs []error
	if f.AckTimeout < 0 {
		errs = append(errs, errors.New("feedback.ack_timeout: negative"))
	}
	if f.RequireSignature && f.SigningSecret == "" {
		errs = append(errs, errors.New("feedback.signing_secret: required when require_signature is true"))
	}
	if f.SigningSecret != "" && !secretRef.MatchString(f.SigningSecret) {
		errs = append(errs, errors.New("feedback.signing_secret: must be a secret reference env:NAME, file:/absolute/path or aws-ssm:/parameter/name"))
	}
	if f.RedeliverOnReject < 0 || f.RedeliverOnReject > 10 {
		errs = append(errs, errors.New("feedback.redeliver_on_reject: must be 0-10"))
	}
	if f.RequestsPerSecond < 0 {
		errs = append(errs, errors.New("feedback.requests_per_second: negative"))
	}
	if r := f.Receipt; r != nil {
		if r.Format != "json" && r.Format != "csv" {
			errs = append(errs, fmt.Errorf("feedback.receipt.format: %q is not json or csv", r.Format))
		}
		if r.Name == "" || strings.ContainsAny(r.Name, "/\\") || r.Name == "manifest.json" {
			errs = append(errs, errors.New("feedback.receipt.name: a plain file name other than manifest.json"))
		}
	}
	return errs
}

// FormatOptions are a partner's settings for its metadata format. Each
// format reads the options it knows and ignores the others.
type FormatOptions struct {
	// Columns are the csv format's columns, in order: id, type, title,
	// description, keywords, territories, media_file, image_file (see
	// CSVColumns) or metadata.<key>. Empty: those eight.
	Columns []string `json:"columns,omitempty"`
	// Template is the template format's Go text/template, as inline text
	// (not a file reference): it is part of the versioned profile, so
	// changing it is a new profile version that diff, rollout and rollback
	// cover, and every process renders the same template.
	Template string `json:"template,omitempty"`
	// FileName names the metadata file of the template format (default
	// metadata.txt) and the csv format (default metadata.csv).
	FileName string `json:"file_name,omitempty"`
	// Provider is the adi11 format's AMS Provider: who supplies the
	// content, 1-20 characters. Required for adi11.
	Provider string `json:"provider,omitempty"`
	// ProviderID is the adi11 format's AMS Provider_ID: the provider's
	// lowercase internet domain name, up to 20 characters (e.g.
	// studio.example). Required for adi11.
	ProviderID string `json:"provider_id,omitempty"`
	// Link is the mrss format's channel link: an absolute http(s) URL.
	// Required for mrss.
	Link string `json:"link,omitempty"`
}

// CSVColumns are the csv format's named columns and its default set:
// description is metadata.description (else metadata.synopsis); keywords
// and territories are the metadata lists joined with "|"; media_file and
// image_file name the package's main media file and first image.
var CSVColumns = []string{"id", "type", "title", "description", "keywords", "territories", "media_file", "image_file"}

// MaxTemplateSize bounds FormatOptions.Template.
const MaxTemplateSize = 64 << 10

var (
	metadataColumn = regexp.MustCompile(`^metadata\.[A-Za-z0-9_.-]{1,64}$`)
	adiProviderID  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$`)
)

func (o FormatOptions) validate(format string) []error {
	var errs []error
	seen := map[string]bool{}
	for _, c := range o.Columns {
		if !slices.Contains(CSVColumns, c) && !metadataColumn.MatchString(c) {
			errs = append(errs, fmt.Errorf("format_options.columns: %q is not one of %v or metadata.<key>", c, CSVColumns))
		} else if seen[c] {
			errs = append(errs, fmt.Errorf("format_options.columns: %q listed twice", c))
		}
		seen[c] = true
	}
	if format == "template" && o.Template == "" {
		errs = append(errs, errors.New("format_options.template: required for format template"))
	}
	if err := checkTemplate(o.Template); err != nil {
		errs = append(errs, fmt.Errorf("format_options.template: %w", err))
	}
	if n := o.FileName; n != "" && (len(n) > 255 || n == "." || n == ".." || n == "manifest.json" ||
		strings.ContainsAny(n, "/\\") || strings.ContainsFunc(n, unicode.IsControl)) {
		errs = append(errs, errors.New("format_options.file_name: a plain file name (no / or \\) other than manifest.json"))
	}
	if format == "adi11" && o.Provider == "" {
		errs = append(errs, errors.New("format_options.provider: required for format adi11"))
	}
	if n := utf8.RuneCountInString(o.Provider); n > 20 || strings.ContainsFunc(o.Provider, unicode.IsControl) {
		errs = append(errs, errors.New("format_options.provider: at most 20 characters, no control characters"))
	}
	if format == "adi11" && o.ProviderID == "" {
		errs = append(errs, errors.New("format_options.provider_id: required for format adi11"))
	}
	if id := o.ProviderID; id != "" && (len(id) > 20 || !adiProviderID.MatchString(id)) {
		errs = append(errs, errors.New("format_options.provider_id: a lowercase domain name of at most 20 characters, e.g. studio.example"))
	}
	if format == "mrss" && o.Link == "" {
		errs = append(errs, errors.New("format_options.link: required for format mrss"))
	}
	if o.Link != "" {
		if u, err := url.Parse(o.Link); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, errors.New("format_options.link: an absolute http:// or https:// URL"))
		}
	}
	return errs
}

// checkTemplate parses a template without knowing its functions (the
// template format checks those when it renders), so a syntax error is
// reported, with its line, when the profile is applied.
func checkTemplate(text string) error {
	if len(text) > MaxTemplateSize {
		return fmt.Errorf("longer than %d bytes", MaxTemplateSize)
	}
	if strings.HasPrefix(text, "file:") && !strings.Contains(text, "\n") {
		return errors.New("the template's text itself is expected, not a file reference")
	}
	t := parse.New("template")
	t.Mode = parse.SkipFuncCheck
	if _, err := t.Parse(text, "", "", map[string]*parse.Tree{}); err != nil {
		msg := strings.TrimPrefix(err.Error(), "template: template:")
		if line, rest, ok := strings.Cut(msg, ": "); ok {
			return fmt.Errorf("line %s: %s", line, rest)
		}
		return err
	}
	return nil
}
