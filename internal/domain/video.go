package domain

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// VideoSpec is the video a partner's package carries: the rendition of
// Role that matches it, or one transcoded to it.
type VideoSpec struct {
	// Role is the asset media role the video comes from (default "main").
	// Renditions named ROLE-anything (main-720p) are candidates too.
	Role string `json:"role,omitempty"`
	// Preset names a built-in profile (VideoPresets) that fills the
	// fields below left empty.
	Preset string `json:"preset,omitempty"`
	// Codec is the ffprobe codec name: h264 or hevc.
	Codec string `json:"codec,omitempty"`
	// Width and Height are the exact frame size, in pixels.
	Width  int `json:"width,omitempty"`
	Height int `json:"height,omitempty"`
	// MaxBitrateKbps caps the video bit rate; a rendition above it is
	// transcoded.
	MaxBitrateKbps int `json:"max_bitrate_kbps,omitempty"`
	// Container is mp4, mov or mkv.
	Container string `json:"container,omitempty"`
	// Transcoder is "ffmpeg" (built in, the default) or "external" (the
	// operator's transcoding service, which calls back when done).
	Transcoder string `json:"transcoder,omitempty"`
	// Timeout ends a transcode that has not finished (default 6h).
	Timeout Duration `json:"timeout,omitzero"`
	// HeartbeatTimeout fails an external transcode whose service has sent
	// nothing for this long (default 10m).
	HeartbeatTimeout Duration `json:"heartbeat_timeout,omitzero"`
}

// VideoPresets are the named video profiles a VideoSpec may start from.
var VideoPresets = map[string]VideoSpec{
	"h264-1080p": {Codec: "h264", Width: 1920, Height: 1080, MaxBitrateKbps: 8000, Container: "mp4"},
	"h264-720p":  {Codec: "h264", Width: 1280, Height: 720, MaxBitrateKbps: 5000, Container: "mp4"},
	"h264-480p":  {Codec: "h264", Width: 854, Height: 480, MaxBitrateKbps: 2500, Container: "mp4"},
	"hevc-2160p": {Codec: "hevc", Width: 3840, Height: 2160, MaxBitrateKbps: 16000, Container: "mp4"},
	"hevc-1080p": {Codec: "hevc", Width: 1920, Height: 1080, MaxBitrateKbps: 5000, Container: "mp4"},
}

// VideoCodecs, VideoContainers and Transcoders are the values a VideoSpec accepts.
var (
	VideoCodecs     = []string{"h264", "hevc"}
	VideoContainers = []string{"mp4", "mov", "mkv"}
	Transcoders     = []string{"ffmpeg", "external"}
)

// Resolved returns the spec with its preset and defaults applied.
func (v VideoSpec) Resolved() VideoSpec {
	if p, ok := VideoPresets[v.Preset]; ok {
		if v.Codec == "" {
			v.Codec = p.Codec
		}
		if v.Width == 0 && v.Height == 0 {
			v.Width, v.Height = p.Width, p.Height
		}
		if v.MaxBitrateKbps == 0 {
			v.MaxBitrateKbps = p.MaxBitrateKbps
		}
		if v.Container == "" {
			v.Container = p.Container
		}
	}
	if v.Role == "" {
		v.Role = "main"
	}
	if v.Container == "" {
		v.Container = "mp4"
	}
	if v.Codec == "" {
		v.Codec = "h264"
	}
	if v.Transcoder == "" {
		v.Transcoder = "ffmpeg"
	}
	if v.Timeout == 0 {
		v.Timeout = Duration(6 * time.Hour)
	}
	if v.HeartbeatTimeout == 0 {
		v.HeartbeatTimeout = Duration(10 * time.Minute)
	}
	return v
}

func (v VideoSpec) validate() []error {
	var errs []error
	if v.Preset != "" {
		if _, ok := VideoPresets[v.Preset]; !ok {
			names := make([]string, 0, len(VideoPresets))
			for n := range VideoPresets {
				names = append(names, n)
			}
			slices.Sort(names)
			errs = append(errs, fmt.Errorf("package.video.preset: %q is not one of %v", v.Preset, names))
		}
	}
	if v.Role != "" && !rolePattern.MatchString(v.Role) {
		errs = append(errs, fmt.Errorf("package.video.role: %q is not a valid role", v.Role))
	}
	if v.Codec != "" && !slices.Contains(VideoCodecs, v.Codec) {
		errs = append(errs, fmt.Errorf("package.video.codec: %q is not one of %v", v.Codec, VideoCodecs))
	}
	if v.Container != "" && !slices.Contains(VideoContainers, v.Container) {
		errs = append(errs, fmt.Errorf("package.video.container: %q is not one of %v", v.Container, VideoContainers))
	}
	if v.Transcoder != "" && !slices.Contains(Transcoders, v.Transcoder) {
		errs = append(errs, fmt.Errorf("package.video.transcoder: %q is not one of %v", v.Transcoder, Transcoders))
	}
	if v.Width < 0 || v.Width > 8192 || v.Height < 0 || v.Height > 8192 || (v.Width == 0) != (v.Height == 0) ||
		v.Width%2 != 0 || v.Height%2 != 0 {
		errs = append(errs, errors.New("package.video.width/height: both or neither, even numbers up to 8192"))
	}
	if v.MaxBitrateKbps < 0 || v.MaxBitrateKbps > 200000 {
		errs = append(errs, errors.New("package.video.max_bitrate_kbps: must be 0-200000"))
	}
	if v.Timeout < 0 || v.HeartbeatTimeout < 0 {
		errs = append(errs, errors.New("package.video.timeout/heartbeat_timeout: negative"))
	}
	return errs
}

// Naming placeholders a package file name template may use.
var namingTokens = []string{"{asset_id}", "{role}", "{ext}", "{type}", "{version}", "{width}", "{height}"}

var namingToken = regexp.MustCompile(`\{[^{}]*\}`)

// ValidateNaming checks one naming template (package.naming.KIND).
func ValidateNaming(kind, tmpl string) error {
	if strings.TrimSpace(tmpl) == "" {
		return fmt.Errorf("package.naming.%s: empty", kind)
	}
	for _, tok := range namingToken.FindAllString(tmpl, -1) {
		if !slices.Contains(namingTokens, tok) {
			return fmt.Errorf("package.naming.%s: unknown placeholder %s (have %s)", kind, tok, strings.Join(namingTokens, " "))
		}
	}
	if strings.HasPrefix(tmpl, "/") || slices.Contains(strings.Split(tmpl, "/"), "..") {
		return fmt.Errorf("package.naming.%s: %q must be a relative name without ..", kind, tmpl)
	}
	return nil
}

// NamingKinds are the keys of Package.Naming.
var NamingKinds = []string{"media", "image", "subtitle", "metadata"}

var markerPattern = regexp.MustCompile(`^[A-Za-z0-9_.{}-]{1,200}$`)

func (k Package) validate() []error {
	var errs []error
	if k.Video != nil {
		errs = append(errs, k.Video.validate()...)
	}
	for kind, tmpl := range k.Naming {
		if !slices.Contains(NamingKinds, kind) {
			errs = append(errs, fmt.Errorf("package.naming: %q is not one of %v", kind, NamingKinds))
			continue
		}
		if err := ValidateNaming(kind, tmpl); err != nil {
			errs = append(errs, err)
		}
	}
	if m := k.CompletionMarker; m != "" {
		bad := !markerPattern.MatchString(m) || strings.HasPrefix(m, ".")
		for _, tok := range pathTokens.FindAllString(m, -1) {
			bad = bad || (tok != "{asset_id}" && tok != "{delivery_id}")
		}
		if bad {
			errs = append(errs, fmt.Errorf("package.completion_marker: %q must be a plain file name (letters, digits, . _ -, placeholders {asset_id} {delivery_id})", m))
		}
	}
	return errs
}
