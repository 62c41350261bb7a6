// Package hermetic proves that the test suite stays on loopback: no test or
// tool run may send a packet to an address outside 127.0.0.0/8 and ::1,
// DNS queries to the system resolver included.
//
// Its test (full suite only, as root) runs the programs most likely to
// reach out — the web UI's browser test, whose Chromium phones home unless
// told not to, and the demo — under strace, in a mount namespace whose
// /etc/resolv.conf points at a DNS recorder on loopback, and fails naming
// every host that was looked up and every off-loopback address that was
// connected to or sent to. It never sends anything off loopback itself.
package hermetic
