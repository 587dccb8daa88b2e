package main

import "github.com/spf13/cobra"

// demo and generate.

func newDemoCmd() *cobra.Command {
	return &cobra.Command{Use: "demo", Short: "Generate sample data and run the whole flow", RunE: func(cmd *cobra.Command, _ []string) error {
		return usagef("demo: not built yet")
	}}
}

func newGenerateCmd() *cobra.Command {
	return &cobra.Command{Use: "generate", Short: "Write synthetic customer histories with known ground truth", RunE: func(cmd *cobra.Command, _ []string) error {
		return usagef("generate: not built yet")
	}}
}
