package cli

import (
	"context"
	"strings"
	"testing"
)

func TestBenchArguments(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"bench"}, 2, "bench transfer --protocol"},
		{[]string{"bench", "transfer"}, 2, "--protocol must be one of ftp, http, local, s3, sftp"},
		{[]string{"bench", "transfer", "--protocol", "gopher"}, 2, "--protocol must be one of"},
		{[]string{"bench", "transfer", "--protocol", "local", "--size", "1XB", "--rclone", "/bin/true"}, 1, `unknown unit "XB"`},
		{[]string{"bench", "transfer", "--protocol", "local", "--rclone", "/nonexistent/rclone"}, 1, "--rclone /nonexistent/rclone"},
		{[]string{"bench", "transfer", "--protocol", "http", "--target", "sftp://u@127.0.0.1/x", "--rclone", "/bin/true"}, 1, "a http target must be a http:// or https:// URL"},
		{[]string{"bench", "transfer", "--protocol", "sftp", "--rtt", "-1s", "--rclone", "/bin/true"}, 1, "--rtt -1s: want 0 to 2s"},
		{[]string{"bench", "upload-once", "--target", "file:///tmp/x"}, 2, "Usage: syndicate bench upload-once"},
	} {
		var out, errOut strings.Builder
		env := &Env{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}
		if code := Run(context.Background(), env, c.args); code != c.code || !strings.Contains(errOut.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", c.args, code, errOut.String(), c.code, c.want)
		}
	}
}
