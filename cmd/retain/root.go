package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
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
	// --cpuprofile writes a Go CPU profile of any command (go tool pprof FILE);
	// --memprofile a heap profile at its end (go tool pprof -sample_index=alloc_space
	// FILE shows what allocated most over the whole command).
	var cpuProfile, memProfile string
	var stopProfile func()
	root.PersistentFlags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the command to this file")
	root.PersistentFlags().StringVar(&memProfile, "memprofile", "", "write a heap profile (allocations over the whole command) to this file at its end")
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		if memProfile != "" {
			f, err := os.Create(memProfile)
			if err != nil {
				return usagef("--memprofile: %v", err)
			}
			f.Close()
		}
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
		if memProfile != "" {
			if err := writeHeapProfile(memProfile); err != nil {
				fmt.Fprintf(os.Stderr, "retain: --memprofile: %v\n", err)
			}
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
		newPruneCmd(),
	)
	return root
}

// writeHeapProfile writes the heap profile after a last GC (so in-use figures
// are current).
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
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
