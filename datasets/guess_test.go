package datasets

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestGuessConfig(t *testing.T) {
	dir := t.TempDir()
	retail := "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n" +
		"536365,85123A,HEART,6,2010-12-01 08:26:00,2.55,17850,United Kingdom\n" +
		"C536379,D,Discount,-1,2010-12-01 09:41:00,27.5,14527,United Kingdom\n" +
		"536414,22139,,56,2010-12-01 11:52:00,0,,United Kingdom\n"
	cdnow := " 00004 0001 19970101  2   29.33\r\n 00004 0001 19970118  2   29.73\r\n 00021 0002 19970101  3   63.34\r\n"
	cases := []struct {
		name, file, content string
		want                map[string]string
		filters             int
	}{
		{"online retail", "retail.csv", retail, map[string]string{"customer_id": "CustomerID", "order_id": "InvoiceNo", "ordered_at": "InvoiceDate", "amount": "Quantity * UnitPrice", "quantity": "Quantity", "product": "StockCode"}, 3},
		{"cdnow", "cdnow.txt", cdnow, map[string]string{"ordered_at": "3", "amount": "5", "quantity": "4"}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, c.file)
			os.WriteFile(p, []byte(c.content), 0o644)
			g, err := GuessConfig(context.Background(), p, filepath.Join(dir, "retain.yaml"), "")
			if err != nil {
				t.Fatal(err)
			}
			var cfg struct {
				DataDir string           `yaml:"data_dir"`
				Shards  int              `yaml:"shards"`
				MaxBad  float64          `yaml:"max_bad_row_share"`
				Sources map[Table]Source `yaml:"sources"`
			}
			dec := yaml.NewDecoder(strings.NewReader(g.YAML))
			dec.KnownFields(true)
			if err := dec.Decode(&cfg); err != nil {
				t.Fatalf("written YAML does not parse: %v\n%s", err, g.YAML)
			}
			src := cfg.Sources[Orders]
			for k, v := range c.want {
				if src.Columns[k] != v {
					t.Errorf("%s guessed %q, want %q\n%s", k, src.Columns[k], v, g.YAML)
				}
			}
			if len(src.Filters) != c.filters {
				t.Errorf("%d filters, want %d", len(src.Filters), c.filters)
			}
			if !filepath.IsAbs(src.Path) {
				src.Path = filepath.Join(dir, src.Path)
			}
			if err := src.Validate("sources.orders", Orders); err != nil {
				t.Fatalf("guessed source invalid: %v", err)
			}
			if _, err := Extract(context.Background(), ExtractConfig{DataDir: filepath.Join(dir, "d-"+c.file), Sources: map[Table]Source{Orders: src}}); err != nil {
				t.Fatalf("guessed config does not extract: %v", err)
			}
		})
	}
}
