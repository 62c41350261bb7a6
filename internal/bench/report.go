package bench

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Sample is one upload by one side.
type Sample struct {
	Bytes int64
	Wall  time.Duration
	// MaxRSS is the peak resident set of the process that uploaded, in
	// bytes (the child's rusage Maxrss).
	MaxRSS int64
}

// MBps is the rate in decimal megabytes (10^6 bytes) per second.
func (s Sample) MBps() float64 {
	if s.Wall <= 0 {
		return 0
	}
	return float64(s.Bytes) / 1e6 / s.Wall.Seconds()
}

// Median of the samples' rates and of their peak RSS (each on its own).
type Median struct {
	MBps   float64
	MaxRSS int64
	Runs   int
}

// MedianOf returns the medians of samples; the zero Median for none.
func MedianOf(samples []Sample) Median {
	if len(samples) == 0 {
		return Median{}
	}
	rates := make([]float64, len(samples))
	rss := make([]float64, len(samples))
	for i, s := range samples {
		rates[i], rss[i] = s.MBps(), float64(s.MaxRSS)
	}
	return Median{MBps: median(rates), MaxRSS: int64(median(rss)), Runs: len(samples)}
}

func median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// Summary is the result of one benchmark: the medians of each side.
type Summary struct {
	Protocol string
	// Archive is the archive kind uploaded, or "" for a plain file.
	Archive string
	// RTT is the round trip the delay proxy added, if any.
	RTT        time.Duration
	Size       int64
	Syndicate  Median
	Rclone     Median // rclone with its defaults
	RcloneFast Median // rclone without its checksum
	// NoChecksumFlags is what "no-checksum" meant for this protocol.
	NoChecksumFlags []string
}

// ratio is a/b, or 0 when there is no b.
func ratio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}

func mbps(v float64) string {
	if v >= 100 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

func mib(b int64) string { return strconv.FormatFloat(float64(b)/(1<<20), 'f', 0, 64) }

// Line is the one-line result: Syndicate's median rate and peak RSS, and
// rclone's two medians with Syndicate's rate as a ratio of each.
func (s Summary) Line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "transfer %s: syndicate %s MB/s (RSS %s MiB)", s.name(), mbps(s.Syndicate.MBps), mib(s.Syndicate.MaxRSS))
	if s.Rclone.Runs == 0 {
		b.WriteString(", rclone not run")
		return b.String()
	}
	fmt.Fprintf(&b, ", rclone default %s MB/s (ratio %.2f), rclone no-checksum %s MB/s (ratio %.2f)",
		mbps(s.Rclone.MBps), ratio(s.Syndicate.MBps, s.Rclone.MBps),
		mbps(s.RcloneFast.MBps), ratio(s.Syndicate.MBps, s.RcloneFast.MBps))
	return b.String()
}

// RSSLine gives the peak RSS of every side, which Line leaves out for rclone.
func (s Summary) RSSLine() string {
	if s.Rclone.Runs == 0 {
		return fmt.Sprintf("rss %s: syndicate %s MiB", s.name(), mib(s.Syndicate.MaxRSS))
	}
	return fmt.Sprintf("rss %s: syndicate %s MiB, rclone default %s MiB, rclone no-checksum %s MiB (%s)",
		s.name(), mib(s.Syndicate.MaxRSS), mib(s.Rclone.MaxRSS), mib(s.RcloneFast.MaxRSS), strings.Join(s.NoChecksumFlags, " "))
}

// ParseSize reads a size such as 1GiB, 512MiB, 10GB, 4k or 1048576.
// Binary suffixes (KiB, MiB, GiB, TiB, and k, M, G, T) are powers of 1024;
// decimal ones (KB, MB, GB, TB) powers of 1000.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.TrimSpace(t[i:])
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("size %q: want a number with an optional unit (e.g. 1GiB, 512MiB)", s)
	}
	mult := map[string]float64{
		"": 1, "b": 1,
		"k": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mib": 1 << 20, "g": 1 << 30, "gib": 1 << 30, "t": 1 << 40, "tib": 1 << 40,
		"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	}[strings.ToLower(unit)]
	if mult == 0 {
		return 0, fmt.Errorf("size %q: unknown unit %q", s, unit)
	}
	return int64(v * mult), nil
}

// name is the protocol, with the archive kind when one was uploaded:
// "sftp", "sftp+tar".
func (s Summary) name() string {
	n := s.Protocol
	if s.Archive != "" {
		n += "+" + s.Archive
	}
	if s.RTT > 0 {
		n += fmt.Sprintf(" (rtt %s)", s.RTT)
	}
	return n
}
