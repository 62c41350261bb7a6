// Package domain holds Syndicate's core types — Asset, Partner, Delivery,
// Manifest — and the rules that need no I/O: validation, the delivery state
// machine and content hashing. It imports nothing outside the standard
// library; a test in this package enforces that.
package domain
