package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/pprof"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "retain",
		Short:         "Nightly churn risk, CLV and intervention queues from customer histories",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err.Error()} })
	// --cpuprofile writes a Go CPU profile of any command (go tool pprof FILE).
	var cpuProfile string
	var stopProfile func()
	root.PersistentFlags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the command to this file")
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		if cpuProfile == "" {
			return nil
		}
		f, err := os.Create(cpuProfile)
		if err != nil {
			return usagef("--cpuprofile: %v", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return usagef("--cpuprofile: %v", err)
		}
		stopProfile = func() { pprof.StopCPUProfile(); f.Close() }
		return nil
	}
	root.PersistentPostRun = func(*cobra.Command, []string) {
		if stopProfile != nil {
			stopProfile()
		}
	}
	root.AddCommand(
		newDemoCmd(),
		newInitCmd(),
		newGenerateCmd(),
		newExtractCmd(),
		newTrainCmd(),
		newBacktestCmd(),
		newFeaturesCmd(),
		newCLVCmd(),
		newRunCmd(),
		newRunsCmd(),
		newBackfillCmd(),
		newWorkerCmd(),
		newScoreCmd(),
		newPublishCmd(),
		newServeCmd(),
		newTokensCmd(),
		newReportCmd(),
	)
	return root
}

// printJSON writes one JSON summary object to stdout (the --json contract).
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("writing JSON summary: %w", err)
	}
	return nil
}

// progress prints progress lines to stderr: plain lines when stderr is not a
// terminal, an updating line when it is.
type progress struct {
	w   io.Writer
	tty bool
}

func newProgress() *progress {
	return &progress{w: os.Stderr, tty: term.IsTerminal(int(os.Stderr.Fd()))}
}

// Printf prints one progress line.
func (p *progress) Printf(format string, args ...any) {
	fmt.Fprintf(p.w, format+"\n", args...)
}

// Update rewrites the current line on a terminal; prints nothing otherwise
// (plain output only gets Printf lines).
func (p *progress) Update(format string, args ...any) {
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K"+format, args...)
	}
}

// Done ends an Update line on a terminal.
func (p *progress) Done() {
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
