package datasets

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Source is one `sources.<table>` entry of the config: where a canonical
// table comes from and how its columns map onto the canonical ones.
//
// Defaults: Delimiter ",", Header true, TimeFormat "auto" (recognised from the
// first values), TimeZone "UTC", RollUp true for orders with an order_id.
type Source struct {
	Format string `yaml:"format" json:"format"`                   // csv, parquet, postgres, sqlite
	Path   string `yaml:"path,omitempty" json:"path,omitempty"`   // file path, relative to the config file
	DSN    string `yaml:"dsn,omitempty" json:"dsn,omitempty"`     // postgres / sqlite connection string (sqlite: a file path)
	Query  string `yaml:"query,omitempty" json:"query,omitempty"` // SQL for postgres / sqlite
	// Columns maps canonical names to a source column, or to an arithmetic
	// expression over numeric source columns (e.g. amount: "Quantity * UnitPrice").
	// Without a header, source columns are positions: "1", "2", … (1-based).
	Columns map[string]string `yaml:"columns,omitempty" json:"columns,omitempty"`
	// TimeFormat is a Go layout ("2006-01-02 15:04:05"), a strftime-like one
	// ("%Y-%m-%d %H:%M:%S", "%Y%m%d"), or one of auto (default), rfc3339,
	// unix, unix_ms, date.
	TimeFormat string `yaml:"time_format,omitempty" json:"time_format,omitempty"`
	// TimeZone is the IANA zone of times that carry no offset (default UTC).
	TimeZone string `yaml:"time_zone,omitempty" json:"time_zone,omitempty"`
	// Currency of money columns (documentation only; no conversion).
	Currency string `yaml:"currency,omitempty" json:"currency,omitempty"`
	// Delimiter of CSV fields: a single character, "tab", or "whitespace"
	// (runs of spaces/tabs, leading and trailing blanks ignored). Default ",".
	Delimiter string `yaml:"delimiter,omitempty" json:"delimiter,omitempty"`
	// Header says whether the CSV file starts with a header row (default true).
	Header *bool `yaml:"header,omitempty" json:"header,omitempty"`
	// Filters drop rows that match a rule; the summary counts rows per rule.
	Filters []Filter `yaml:"filters,omitempty" json:"filters,omitempty"`
	// RollUp folds order lines into orders by (customer_id, order_id)
	// (default true when order_id is mapped; orders table only).
	RollUp *bool `yaml:"roll_up,omitempty" json:"roll_up,omitempty"`
	// Watermark is a monotonically growing source column (postgres, sqlite):
	// later extracts read only rows beyond the last one seen.
	Watermark string `yaml:"watermark,omitempty" json:"watermark,omitempty"`
}

// Filter drops rows for which its condition holds. Exactly one condition is
// set. Column is a source column (or a canonical name mapped to one).
type Filter struct {
	Name       string   `yaml:"name" json:"name"`
	Column     string   `yaml:"column" json:"column"`
	StartsWith string   `yaml:"starts_with,omitempty" json:"starts_with,omitempty"`
	In         []string `yaml:"in,omitempty" json:"in,omitempty"`
	Empty      bool     `yaml:"empty,omitempty" json:"empty,omitempty"`
	LT         *float64 `yaml:"lt,omitempty" json:"lt,omitempty"`
	LE         *float64 `yaml:"le,omitempty" json:"le,omitempty"`
	GT         *float64 `yaml:"gt,omitempty" json:"gt,omitempty"`
	GE         *float64 `yaml:"ge,omitempty" json:"ge,omitempty"`
}

func (f Filter) numeric() bool { return f.LT != nil || f.LE != nil || f.GT != nil || f.GE != nil }

// Validate checks one source; key is its config key (sources.orders) and
// messages name the offending key.
func (s *Source) Validate(key string, t Table) error {
	spec, ok := Specs[t]
	if !ok {
		names := make([]string, len(Tables))
		for i, t := range Tables {
			names[i] = string(t)
		}
		return fmt.Errorf("%s: unknown table %q (tables: %s)", key, t, strings.Join(names, ", "))
	}
	switch s.Format {
	case "csv", "parquet":
		if s.Path == "" {
			return fmt.Errorf("%s.path: required for format %s", key, s.Format)
		}
	case "postgres":
		if s.DSN == "" || s.Query == "" {
			return fmt.Errorf("%s: format postgres needs dsn and query", key)
		}
	case "sqlite":
		if (s.DSN == "" && s.Path == "") || s.Query == "" {
			return fmt.Errorf("%s: format sqlite needs path (or dsn) and query", key)
		}
	case "":
		return fmt.Errorf("%s.format: required (csv, parquet, postgres or sqlite)", key)
	default:
		return fmt.Errorf("%s.format: %q is not one of csv, parquet, postgres, sqlite", key, s.Format)
	}
	if len(s.Columns) == 0 {
		return fmt.Errorf("%s.columns: required: map canonical columns to source columns", key)
	}
	canon := map[string]Column{}
	for _, c := range spec.Columns {
		canon[c.Name] = c
	}
	names := make([]string, 0, len(s.Columns))
	for k := range s.Columns {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		c, ok := canon[k]
		if !ok {
			return fmt.Errorf("%s.columns.%s: not a column of %s (columns: %s)", key, k, t, strings.Join(spec.columnNames(), ", "))
		}
		v := strings.TrimSpace(s.Columns[k])
		if v == "" {
			return fmt.Errorf("%s.columns.%s: empty source column", key, k)
		}
		if isExpr(v) {
			if c.Kind != Float && c.Kind != Int {
				return fmt.Errorf("%s.columns.%s: expression %q allowed only for numeric columns", key, k, v)
			}
			if _, err := parseExpr(v); err != nil {
				return fmt.Errorf("%s.columns.%s: %w", key, k, err)
			}
		}
	}
	for _, c := range spec.Columns {
		if c.Required && s.Columns[c.Name] == "" {
			return fmt.Errorf("%s.columns.%s: required column of %s is not mapped", key, c.Name, t)
		}
	}
	if s.TimeZone != "" {
		if _, err := time.LoadLocation(s.TimeZone); err != nil {
			return fmt.Errorf("%s.time_zone: %q is not an IANA time zone: %w", key, s.TimeZone, err)
		}
	}
	if _, err := timeLayout(s.TimeFormat); err != nil {
		return fmt.Errorf("%s.time_format: %w", key, err)
	}
	if s.Delimiter != "" {
		if _, err := delimiterByte(s.Delimiter); err != nil {
			return fmt.Errorf("%s.delimiter: %w", key, err)
		}
	}
	seen := map[string]bool{}
	for i, f := range s.Filters {
		fk := fmt.Sprintf("%s.filters[%d]", key, i)
		if f.Name == "" {
			return fmt.Errorf("%s.name: required", fk)
		}
		if seen[f.Name] {
			return fmt.Errorf("%s.name: duplicate filter name %q", fk, f.Name)
		}
		seen[f.Name] = true
		if f.Column == "" {
			return fmt.Errorf("%s.column: required", fk)
		}
		n := 0
		if f.StartsWith != "" {
			n++
		}
		if len(f.In) > 0 {
			n++
		}
		if f.Empty {
			n++
		}
		if f.numeric() {
			n++
		}
		if n != 1 {
			return fmt.Errorf("%s: set exactly one condition of starts_with, in, empty, or lt/le/gt/ge", fk)
		}
	}
	if s.Watermark != "" && s.Format != "postgres" && s.Format != "sqlite" {
		return fmt.Errorf("%s.watermark: only postgres and sqlite sources extract incrementally", key)
	}
	return nil
}

func (s TableSpec) columnNames() []string {
	out := make([]string, len(s.Columns))
	for i, c := range s.Columns {
		out[i] = c.Name
	}
	return out
}

// HasHeader reports whether a CSV source has a header row (default true).
func (s *Source) HasHeader() bool { return s.Header == nil || *s.Header }

// delimiterByte returns the CSV delimiter; 0 means whitespace.
func delimiterByte(d string) (byte, error) {
	switch d {
	case "", ",", "comma":
		return ',', nil
	case "tab", "\\t", "\t":
		return '\t', nil
	case "whitespace", "space", " ":
		return 0, nil
	}
	if len(d) == 1 && d[0] != '"' && d[0] != '\n' && d[0] != '\r' {
		return d[0], nil
	}
	return 0, fmt.Errorf("%q is not a single-character delimiter, tab or whitespace", d)
}
