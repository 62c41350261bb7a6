// Command syndicate is the Syndicate binary: server, demo and CLI in one.
package main

import (
	"os"

	_ "github.com/syndicate-media/syndicate/internal/all" // every transport and format
	"github.com/syndicate-media/syndicate/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:])) }
