package pipeline

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/retainlab/retain/datasets"
)

const goodConfig = `data_dir: ./data
sources:
  orders:
    format: csv
    path: in/orders.csv
    time_zone: Europe/London
    columns:
      customer_id: CustomerID
      ordered_at: InvoiceDate
      amount: Quantity * UnitPrice
    filters:
      - name: cancellations
        column: InvoiceNo
        starts_with: C
`

func TestLoadDefaultsAndPaths(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "retain.yaml")
	os.WriteFile(p, []byte(goodConfig), 0o644)
	cfg, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != filepath.Join(dir, "data") {
		t.Errorf("data_dir %q, want it relative to the config file", cfg.DataDir)
	}
	if got := cfg.Sources[datasets.Orders].Path; got != filepath.Join(dir, "in", "orders.csv") {
		t.Errorf("source path %q", got)
	}
	if cfg.Shards != 8 || cfg.BadRowShare() != 0.01 {
		t.Errorf("defaults: shards %d, max_bad_row_share %g", cfg.Shards, cfg.BadRowShare())
	}
	if cfg.Path() != p {
		t.Errorf("Path() = %q", cfg.Path())
	}
}

func TestLoadErrorsNameTheKey(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"unknown top key", goodConfig + "colour: blue\n", `unknown key colour`},
		{"unknown source key", strings.Replace(goodConfig, "    time_zone:", "    tyme_zone: x\n    time_zone:", 1), `unknown key tyme_zone`},
		{"no data_dir", strings.Replace(goodConfig, "data_dir: ./data\n", "", 1), "data_dir: required"},
		{"bad format", strings.Replace(goodConfig, "format: csv", "format: excel", 1), `sources.orders.format: "excel" is not one of`},
		{"no path", strings.Replace(goodConfig, "    path: in/orders.csv\n", "", 1), "sources.orders.path: required"},
		{"unknown table", strings.Replace(goodConfig, "  orders:", "  purchases:", 1), `sources.purchases: unknown table`},
		{"unknown canonical column", strings.Replace(goodConfig, "      amount:", "      price: x\n      amount:", 1), "sources.orders.columns.price: not a column of orders"},
		{"required column unmapped", strings.Replace(goodConfig, "      amount: Quantity * UnitPrice\n", "", 1), "sources.orders.columns.amount: required column"},
		{"bad expression", strings.Replace(goodConfig, "Quantity * UnitPrice", "Quantity * (UnitPrice", 1), "sources.orders.columns.amount: expression"},
		{"bad zone", strings.Replace(goodConfig, "Europe/London", "Mars/Olympus", 1), "sources.orders.time_zone"},
		{"bad time format", strings.Replace(goodConfig, "    time_zone:", "    time_format: yyyy\n    time_zone:", 1), "sources.orders.time_format"},
		{"filter without condition", strings.Replace(goodConfig, "        starts_with: C\n", "", 1), "sources.orders.filters[0]: set exactly one condition"},
		{"share out of range", goodConfig + "max_bad_row_share: 5\n", "max_bad_row_share: 5 is not between 0 and 1"},
		{"shards", goodConfig + "shards: -1\n", "shards: -1"},
		{"extract memory", goodConfig + "extract_memory: plenty\n", `extract_memory: "plenty" is not a size`},
		{"bad yaml", "data_dir: [\n", "retain.yaml"},
		{"empty", "", "config is empty"},
		{"watermark on csv", strings.Replace(goodConfig, "    time_zone:", "    watermark: id\n    time_zone:", 1), "sources.orders.watermark"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.yaml), "retain.yaml")
			if err == nil {
				t.Fatalf("no error, want %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "retain.yaml: ") {
				t.Errorf("message %q, want it to name the file and contain %q", err, c.want)
			}
			var bi interface{ BadInput() bool }
			if !errors.As(err, &bi) || !bi.BadInput() {
				t.Errorf("not bad input (exit 2): %T", err)
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: %v", err)
	}
}

// TestExampleConfigs loads every config in datasets/examples.
func TestExampleConfigs(t *testing.T) {
	files, _ := filepath.Glob("../datasets/examples/*.yaml")
	if len(files) < 2 {
		t.Fatalf("example configs: %v", files)
	}
	for _, f := range files {
		if _, err := Load(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// FuzzParse: any bytes give a config or a bad-input error, never a panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte(goodConfig))
	f.Add([]byte("data_dir: x\nsources: {orders: {format: csv, path: a, columns: {customer_id: a, ordered_at: b, amount: \"a*(b\"}}}\n"))
	f.Add([]byte("shards: 1e9\n"))
	f.Add([]byte("- a\n- b\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, "f.yaml")
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("not a ConfigError: %T %v", err, err)
			}
			return
		}
		if cfg.DataDir == "" || len(cfg.Sources) == 0 || cfg.Shards < 1 {
			t.Fatalf("accepted an incomplete config: %+v", cfg)
		}
	})
}
