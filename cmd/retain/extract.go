package main

import "github.com/spf13/cobra"

// Owned by the foundation work (issue 2): demo, init, generate, extract.

func newDemoCmd() *cobra.Command {
	return &cobra.Command{Use: "demo", Short: "Generate sample data and run the whole flow", RunE: func(cmd *cobra.Command, _ []string) error {
		return usagef("demo: not built yet")
	}}
}

func newInitCmd() *cobra.Command {
	return &cobra.Command{Use: "init", Short: "Write a starting config from a CSV file", RunE: func(cmd *cobra.Command, _ []string) error {
		return usagef("init: not built yet")
	}}
}

func newGenerateCmd() *cobra.Command {
	return &cobra.Command{Use: "generate", Short: "Write synthetic customer histories with known ground truth", RunE: func(cmd *cobra.Command, _ []string) error {
		return usagef("generate: not built yet")
	}}
}

func newExtractCmd() *cobra.Command {
	return &cobra.Command{Use: "extract", Short: "Read the sources into a sharded Parquet snapshot", RunE: func(cmd *cobra.Command, _ []string) error {
		return usagef("extract: not built yet")
	}}
}
