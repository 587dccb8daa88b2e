package main

import "github.com/spf13/cobra"

// Owned by the foundation work (issue 2): init and extract.

func newInitCmd() *cobra.Command {
	return &cobra.Command{Use: "init", Short: "Write a starting config from a CSV file", RunE: func(cmd *cobra.Command, _ []string) error {
		return usagef("init: not built yet")
	}}
}

func newExtractCmd() *cobra.Command {
	return &cobra.Command{Use: "extract", Short: "Read the sources into a sharded Parquet snapshot", RunE: func(cmd *cobra.Command, _ []string) error {
		return usagef("extract: not built yet")
	}}
}
