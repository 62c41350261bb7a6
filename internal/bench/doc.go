// Package bench measures how fast Syndicate delivers one large file, side
// by side with rclone as the anchor, in one run on the same machine.
//
// `syndicate bench transfer` generates a random file, then for each run
// uploads it three ways, one after the other: Syndicate's own delivery path
// (workflow.Upload: temporary name, resume check, sha256 while streaming,
// size check, rename) in a child process of the same binary, rclone with its
// defaults, and rclone without its checksum. Each side runs as its own
// process so its wall time and peak RSS (the child's Maxrss) are measured
// the same way. It prints the medians and the ratios to rclone, and the load
// average with every run; it never asserts a speed, because a shared
// two-core machine is too noisy for that. With an archive kind, both sides
// upload one archive of the generated files: Syndicate builds it while
// uploading (workflow.UploadArchive), rclone uploads the same bytes written
// beforehand (workflow.BenchArchive).
//
// Targets default to the servers the project's test scripts start
// (scripts/sshd.sh, scripts/versitygw.sh, scripts/vsftpd.sh), read from the
// env files those scripts write; rclone's remote is derived from the same
// target and given to it only through environment variables.
package bench
