package synth

import (
	"fmt"
	"strings"
	"time"
)

// CSVTimeFormat is the layout of every time in the generated CSV files (UTC).
const CSVTimeFormat = "2006-01-02 15:04:05"

// configYAML is the retain.yaml written beside generated data: every
// generated table as a source with paths relative to the config, identity
// column mappings (the files use the canonical names), data_dir ./data.
func configYAML(cfg Config) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by `retain generate --customers %d --seed %d --format %s`.\n", cfg.Customers, cfg.Seed, cfg.Format)
	fmt.Fprintf(&b, "# Synthetic data with known ground truth (truth.json, truth.%s); window %s to %s.\n",
		cfg.Format, cfg.Start.Format(time.DateOnly), cfg.End.Format(time.DateOnly))
	b.WriteString("# Paths are relative to this file.\n")
	b.WriteString("data_dir: ./data\n")
	b.WriteString("sources:\n")
	for _, t := range tables(cfg) {
		if t.name == TruthTable {
			continue
		}
		fmt.Fprintf(&b, "  %s:\n", t.name)
		fmt.Fprintf(&b, "    format: %s\n", cfg.Format)
		fmt.Fprintf(&b, "    path: %s.%s\n", t.name, cfg.Format)
		if cfg.Format == "csv" {
			fmt.Fprintf(&b, "    time_format: %q\n", CSVTimeFormat)
			b.WriteString("    time_zone: UTC\n")
		}
		if t.name == "orders" {
			b.WriteString("    currency: USD\n")
			b.WriteString("    roll_up: false # already one row per order\n")
		}
		b.WriteString("    columns:\n")
		for _, f := range t.schema.Fields() {
			fmt.Fprintf(&b, "      %s: %s\n", f.Name, f.Name)
		}
	}
	b.WriteString("churn:\n")
	b.WriteString("  kind: orders\n")
	b.WriteString("  horizon: 90d\n")
	return b.String()
}
