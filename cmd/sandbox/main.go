// Command sandbox is the Open Banking Sandbox: a UK Open Banking v3.1.11 bank
// simulator in one binary. See README.md, or run `sandbox help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/obsandbox/sandbox/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := app.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	app.RemoveTemplates()
	os.Exit(code)
}
