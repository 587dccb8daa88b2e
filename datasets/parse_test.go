package datasets

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestExpr(t *testing.T) {
	cases := []struct {
		src  string
		vals map[string]float64
		want float64
		err  bool
	}{
		{"Quantity * UnitPrice", map[string]float64{"Quantity": 3, "UnitPrice": 2.5}, 7.5, false},
		{"(a + b) * 2 - c / 4", map[string]float64{"a": 1, "b": 2, "c": 8}, 4, false},
		{"-a + `unit price`", map[string]float64{"a": 1, "unit price": 3}, 2, false},
		{"$4 * $5", map[string]float64{"4": 2, "5": 3}, 6, false},
		{"a *", nil, 0, true},
		{"(a + b", nil, 0, true},
		{"a # b", nil, 0, true},
	}
	for _, c := range cases {
		e, err := parseExpr(c.src)
		if c.err {
			if err == nil {
				t.Errorf("%q: no error", c.src)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", c.src, err)
		}
		vals := make([]float64, 0)
		for i := range e.prog {
			if e.prog[i].op == 'c' {
				e.prog[i].slot = len(vals)
				vals = append(vals, c.vals[e.prog[i].col])
			}
		}
		if got := e.eval(vals, nil); got != c.want {
			t.Errorf("%q = %g, want %g", c.src, got, c.want)
		}
	}
	if isExpr("InvoiceNo") || !isExpr("a*b") || isExpr("`a*b`") || !isExpr("a - b") || isExpr("unit-price") {
		t.Error("isExpr misjudges")
	}
}

func TestTimeFormats(t *testing.T) {
	london, _ := time.LoadLocation("Europe/London")
	cases := []struct {
		layout, value string
		loc           *time.Location
		want          string // RFC3339 UTC, "" = must fail
	}{
		{"2006-01-02 15:04:05", "2011-12-09 12:50:00", time.UTC, "2011-12-09T12:50:00Z"},
		{"2006-01-02 15:04:05", "2011-07-09 12:50:00", london, "2011-07-09T11:50:00Z"},
		{"2006-01-02 15:04:05", "2024-13-45 99:00:00", time.UTC, ""},
		{"2006-01-02 15:04:05", "2023-02-29 10:00:00", time.UTC, ""},
		{"2006-01-02 15:04:05", "2024-02-29 10:00:00", time.UTC, "2024-02-29T10:00:00Z"},
		{"20060102", "19970101", time.UTC, "1997-01-01T00:00:00Z"},
		{"20060102", "1997010", time.UTC, ""},
		{time.RFC3339Nano, "2024-01-02T03:04:05.5+02:00", time.UTC, "2024-01-02T01:04:05Z"},
		{"unix", "1700000000", time.UTC, "2023-11-14T22:13:20Z"},
		{"1/2/2006 15:04", "12/1/2010 8:26", time.UTC, "2010-12-01T08:26:00Z"},
	}
	for _, c := range cases {
		tf := newTimeFormat(c.layout, c.loc)
		v, ok := tf.parse([]byte(c.value))
		if c.want == "" {
			if ok {
				t.Errorf("%s %q parsed, want failure", c.layout, c.value)
			}
			continue
		}
		got := time.UnixMicro(v).UTC().Truncate(time.Second).Format(time.RFC3339)
		if !ok || got != c.want {
			t.Errorf("%s %q = %s (ok %v), want %s", c.layout, c.value, got, ok, c.want)
		}
	}
	detect := []struct {
		sample []string
		want   string
	}{
		{[]string{"2010-12-01 08:26:00", "2011-01-02 10:00:00"}, "2006-01-02 15:04:05"},
		{[]string{"19970101", "19970118"}, "20060102"},
		{[]string{"2024-01-02T03:04:05Z"}, "2006-01-02T15:04:05"}, // fails; RFC3339 next
		{[]string{"13/01/2024", "14/01/2024"}, "2/1/2006"},
		{[]string{"1700000000", "1700000100"}, "unix"},
	}
	for i, d := range detect {
		var s [][]byte
		for _, v := range d.sample {
			s = append(s, []byte(v))
		}
		tf, ok := detectTimeFormat(s, time.UTC)
		if i == 2 {
			if !ok || tf.name != time.RFC3339Nano {
				t.Errorf("detect %v = %v", d.sample, tf)
			}
			continue
		}
		if !ok || tf.name != d.want {
			t.Errorf("detect %v = %+v, want %s", d.sample, tf, d.want)
		}
	}
	if _, ok := detectTimeFormat([][]byte{[]byte("yesterday"), []byte("today")}, time.UTC); ok {
		t.Error("detected a format for words")
	}
	if l, _ := timeLayout("%Y-%m-%d %H:%M:%S"); l != "2006-01-02 15:04:05" {
		t.Errorf("strftime layout %q", l)
	}
}

func TestSplitRecord(t *testing.T) {
	cases := []struct {
		rec   string
		delim byte
		want  []string
		err   bool
	}{
		{`a,b,c`, ',', []string{"a", "b", "c"}, false},
		{`a,,c,`, ',', []string{"a", "", "c", ""}, false},
		{`"a,1","b ""q""",c`, ',', []string{"a,1", `b "q"`, "c"}, false},
		{"\"multi\nline\",x", ',', []string{"multi\nline", "x"}, false},
		{`"open,b`, ',', nil, true},
		{`"a"x,b`, ',', nil, true},
		{"  00004 0001 19970101  2   29.33 ", 0, []string{"00004", "0001", "19970101", "2", "29.33"}, false},
		{"a;b", ';', []string{"a", "b"}, false},
	}
	for _, c := range cases {
		got, _, err := splitRecord([]byte(c.rec), c.delim, nil, nil)
		if c.err {
			if err == nil {
				t.Errorf("%q: no error", c.rec)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", c.rec, err)
		}
		var s []string
		for _, f := range got {
			s = append(s, string(f))
		}
		if strings.Join(s, "|") != strings.Join(c.want, "|") {
			t.Errorf("%q split %q, want %q", c.rec, s, c.want)
		}
	}
}

// FuzzCSVReader feeds arbitrary bytes to the CSV reader: it must never
// panic, and every failure must be bad input (exit 2) naming the file.
func FuzzCSVReader(f *testing.F) {
	f.Add([]byte(hdr + goodRows(5)))
	f.Add([]byte("\xef\xbb\xbf" + hdr + "o1,\"c\n1\",2024-01-01,1\r\n"))
	f.Add([]byte("a,a\n1,2\n"))
	f.Add([]byte(hdr + "o1,\"c1,2024-01-01,1\n"))
	f.Add(gz([]byte(hdr + goodRows(3))))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "f.csv")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		one := 1.0
		_, err := Extract(context.Background(), ExtractConfig{DataDir: filepath.Join(dir, "d"), Shards: 2, MaxBadRowShare: &one,
			Sources: map[Table]Source{Orders: {Format: "csv", Path: path, Columns: ordersCols}}})
		if err != nil {
			var ie *InputError
			var be *BadRowsError
			if !errors.As(err, &ie) && !errors.As(err, &be) {
				t.Fatalf("not a bad-input error: %v", err)
			}
			if !strings.Contains(err.Error(), "f.csv") {
				t.Fatalf("message names no file: %v", err)
			}
		}
	})
}

// TestParseDecimalFast: the fast path gives strconv.ParseFloat's bits, and
// declines what it does not handle.
func TestParseDecimalFast(t *testing.T) {
	for _, s := range []string{"0", "3", "-3", "+7", "18.89", "0.1", "0.3", "-0.000001", "123456789012345", "99999.9999999999", "1.", ".5", "4.35", "2.675", "1e5", "1234567890123456", "inf", "NaN", "1.2.3", "", "-", ".", "12a", "0x10"} {
		want, err := strconv.ParseFloat(s, 64)
		got, ok := parseDecimalFast([]byte(s))
		if !ok {
			continue
		}
		if err != nil {
			t.Errorf("%q: fast path accepted %v, strconv says %v", s, got, err)
			continue
		}
		if math.Float64bits(got) != math.Float64bits(want) {
			t.Errorf("%q: fast path %v, strconv %v", s, got, want)
		}
	}
	for _, s := range []string{"18.89", "3", "-0.5"} {
		if _, ok := parseDecimalFast([]byte(s)); !ok {
			t.Errorf("%q: fast path declined", s)
		}
	}
}

// FuzzParseDecimalFast checks the fast path against strconv on any input.
func FuzzParseDecimalFast(f *testing.F) {
	for _, s := range []string{"18.89", "-0.1", "123456789012345", "1."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseDecimalFast([]byte(s))
		if !ok {
			return
		}
		want, err := strconv.ParseFloat(s, 64)
		if err != nil || math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("%q: fast %v, strconv %v (%v)", s, got, want, err)
		}
	})
}

// isoCases are values for the fixed-offset time parser: valid ones, bad
// digits, separators, lengths and calendar dates.
var isoCases = []string{
	"2011-09-09 08:26:00", "2024-02-29 23:59:59", "2023-02-29 00:00:00", "2011-13-01 00:00:00",
	"2011-00-10 00:00:00", "2011-04-31 10:00:00", "2011-09-09 24:00:00", "2011-09-09 12:60:00",
	"2011-09-09 12:00:60", "2011-09-09T08:26:00", "2011/09/09 08:26:00", "2011-09-09 08-26-00",
	"2011-09-9 08:26:00", "2011-09-09 8:26:00", "2011-09-09 08:26:0", "2011-09-09 08:26:000",
	"2O11-09-09 08:26:00", "2011-09-09 08:2a:00", "2011-09-09", "2011-9-09", "0000-01-01 00:00:00",
	"9999-12-31 23:59:59", "2011-09-09 08:26", "", "-011-09-09 08:26:00", "2011-09-09 08:26:00Z",
}

// TestISOTimeParser: layouts of the shape 2006-01-02[ 15:04:05] parse at
// fixed offsets exactly as their tokens do, for every case, in UTC and in
// a zone.
func TestISOTimeParser(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no time zone data")
	}
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006/01/02 15:04:05", "2006-01-02", "2006.01.02"} {
		for _, loc := range []*time.Location{time.UTC, ny} {
			tf := newTimeFormat(layout, loc)
			if tf.iso == 0 {
				t.Fatalf("%s: not recognised as fixed width", layout)
			}
			ref := *tf
			ref.iso = 0 // the token parser
			for _, v := range isoCases {
				g, gok := tf.parse([]byte(v))
				w, wok := ref.parse([]byte(v))
				if g != w || gok != wok {
					t.Errorf("%s %s %q: %d %v, tokens give %d %v", layout, loc, v, g, gok, w, wok)
				}
				// and as the standard library does
				st, err := time.ParseInLocation(layout, v, loc)
				if (err == nil) != gok || err == nil && st.UnixMicro() != g {
					t.Errorf("%s %s %q: %d %v, time.ParseInLocation gives %v %v", layout, loc, v, g, gok, st, err)
				}
			}
		}
	}
	if tf := newTimeFormat("02.01.2006 15:04", time.UTC); tf.iso != 0 {
		t.Errorf("day-first layout taken as ISO")
	}
}

// FuzzISOTimeParser compares the fixed-offset parser with the tokens on
// arbitrary input.
func FuzzISOTimeParser(f *testing.F) {
	for _, v := range isoCases {
		f.Add(v)
	}
	tf := newTimeFormat("2006-01-02 15:04:05", time.UTC)
	ref := *tf
	ref.iso = 0
	f.Fuzz(func(t *testing.T, v string) {
		g, gok := tf.parse([]byte(v))
		w, wok := ref.parse([]byte(v))
		if g != w || gok != wok {
			t.Errorf("%q: %d %v, tokens give %d %v", v, g, gok, w, wok)
		}
	})
}
