// Command retain is the CLI of the retain pipeline: flags → config → one call
// into pipeline, jobs, api or models. It holds no logic of its own beyond
// wiring, printing and exit statuses (0 success, 1 failure, 2 bad usage or
// bad input).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	os.Exit(exitStatus(err))
}

// exitCoder is implemented by errors that choose their exit status; any
// package may define one (bad input returns 2).
type exitCoder interface{ ExitCode() int }

// badInputer is implemented by errors that report bad input or bad usage.
type badInputer interface{ BadInput() bool }

func exitStatus(err error) int {
	if err == nil {
		return 0
	}
	fmt.Fprintln(os.Stderr, "retain: "+err.Error())
	var ec exitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	var bi badInputer
	if errors.As(err, &bi) && bi.BadInput() {
		return 2
	}
	return 1
}

// usageError marks bad flags or arguments: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }
func (usageError) ExitCode() int   { return 2 }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }
