package bench

import (
	"context"
	"io"
	"strings"
	"testing"
)

func TestDeliveriesRefusesBadInput(t *testing.T) {
	ok := DeliveriesConfig{Workers: []int{1}, Deliveries: 10, Partners: 1, Size: 1024, Out: io.Discard}
	for want, mod := range map[string]func(c *DeliveriesConfig){
		"--workers 0: want 1-8":               func(c *DeliveriesConfig) { c.Workers = []int{1, 0} },
		"--workers 9: want 1-8":               func(c *DeliveriesConfig) { c.Workers = []int{9} },
		"--deliveries 0: want 1-5000":         func(c *DeliveriesConfig) { c.Deliveries = 0 },
		"--deliveries 5001: want 1-5000":      func(c *DeliveriesConfig) { c.Deliveries = 5001 },
		"--partners 0: want 1-32":             func(c *DeliveriesConfig) { c.Partners = 0 },
		"--size 67108865: want at most 64MiB": func(c *DeliveriesConfig) { c.Size = 64<<20 + 1 },
		// The connection error names the server with the password masked.
		"postgres postgres://u:xxxxx@127.0.0.1:": func(c *DeliveriesConfig) { c.Postgres = "postgres://u:secret@127.0.0.1:1/db?connect_timeout=2" },
	} {
		c := ok
		mod(&c)
		_, err := Deliveries(context.Background(), c)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want an error with %q, got %v", want, err)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
}
