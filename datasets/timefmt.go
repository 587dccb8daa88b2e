package datasets

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// timeFormat parses one source time column into microseconds since the Unix
// epoch, UTC.
type timeFormat struct {
	name   string // as configured or detected
	kind   int
	layout string
	fast   []fastTok // non-nil when the layout is all-numeric and fixed width
	loc    *time.Location
	utc    bool
}

const (
	tfLayout = iota
	tfUnix
	tfUnixMS
)

type fastTok struct {
	field byte // 'Y','m','d','H','M','S' or 0 for a literal
	lit   byte
}

// autoLayouts are tried, in this order, when time_format is auto.
var autoLayouts = []string{
	"2006-01-02 15:04:05", "2006-01-02T15:04:05", time.RFC3339Nano, "2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999", "2006-01-02 15:04", "2006-01-02T15:04",
	"2006-01-02", "20060102", "2006/01/02 15:04:05", "2006/01/02 15:04", "2006/01/02",
	"1/2/2006 15:04:05", "1/2/2006 15:04", "1/2/2006", "2/1/2006 15:04:05", "2/1/2006 15:04", "2/1/2006",
	"02.01.2006 15:04:05", "02.01.2006", "unix", "unix_ms",
}

var strftime = strings.NewReplacer("%Y", "2006", "%m", "01", "%d", "02", "%H", "15", "%M", "04", "%S", "05",
	"%y", "06", "%b", "Jan", "%B", "January", "%p", "PM", "%I", "03", "%z", "-0700", "%Z", "MST", "%f", "000000", "%%", "%")

// timeLayout normalises a configured time_format ("" and "auto" give "").
func timeLayout(f string) (string, error) {
	switch strings.ToLower(f) {
	case "", "auto":
		return "", nil
	case "rfc3339", "iso8601":
		return time.RFC3339Nano, nil
	case "unix", "unix_ms", "epoch", "epoch_ms":
		return strings.Replace(strings.ToLower(f), "epoch", "unix", 1), nil
	case "date":
		return "2006-01-02", nil
	}
	if strings.Contains(f, "%") {
		return strftime.Replace(f), nil
	}
	if !strings.Contains(f, "2006") && !strings.Contains(f, "06") {
		return "", fmt.Errorf("%q is not a time layout (use a Go layout like 2006-01-02 15:04:05, a %%Y-%%m-%%d one, unix, unix_ms or auto)", f)
	}
	return f, nil
}

func newTimeFormat(layout string, loc *time.Location) *timeFormat {
	tf := &timeFormat{name: layout, layout: layout, loc: loc, utc: loc == time.UTC}
	switch layout {
	case "unix":
		tf.kind = tfUnix
		return tf
	case "unix_ms":
		tf.kind = tfUnixMS
		return tf
	}
	tf.fast = compileFast(layout)
	return tf
}

// compileFast turns a layout made only of 2006 01 02 15 04 05 and literal
// punctuation into fixed-width tokens; nil otherwise.
func compileFast(layout string) []fastTok {
	var toks []fastTok
	for i := 0; i < len(layout); {
		switch {
		case strings.HasPrefix(layout[i:], "2006"):
			toks = append(toks, fastTok{field: 'Y'})
			i += 4
		case strings.HasPrefix(layout[i:], "01"):
			toks = append(toks, fastTok{field: 'm'})
			i += 2
		case strings.HasPrefix(layout[i:], "02"):
			toks = append(toks, fastTok{field: 'd'})
			i += 2
		case strings.HasPrefix(layout[i:], "15"):
			toks = append(toks, fastTok{field: 'H'})
			i += 2
		case strings.HasPrefix(layout[i:], "04"):
			toks = append(toks, fastTok{field: 'M'})
			i += 2
		case strings.HasPrefix(layout[i:], "05"):
			toks = append(toks, fastTok{field: 'S'})
			i += 2
		default:
			c := layout[i]
			if c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' {
				return nil
			}
			toks = append(toks, fastTok{lit: c})
			i++
		}
	}
	return toks
}

func digits(b []byte, n int) (int, bool) {
	if len(b) < n {
		return 0, false
	}
	v := 0
	for i := 0; i < n; i++ {
		c := b[i] - '0'
		if c > 9 {
			return 0, false
		}
		v = v*10 + int(c)
	}
	return v, true
}

var daysBefore = [...]int{0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334}

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

func daysIn(m, y int) int {
	switch m {
	case 2:
		if isLeap(y) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil returns days since 1970-01-01 of a proleptic Gregorian date.
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// parse returns microseconds since the epoch, UTC.
func (tf *timeFormat) parse(b []byte) (int64, bool) {
	b = trimSpace(b)
	if len(b) == 0 {
		return 0, false
	}
	switch tf.kind {
	case tfUnix, tfUnixMS:
		f, err := strconv.ParseFloat(string(b), 64)
		if err != nil {
			return 0, false
		}
		if tf.kind == tfUnix {
			return int64(f * 1e6), true
		}
		return int64(f * 1e3), true
	}
	if tf.fast != nil {
		y, mo, d, h, mi, s := 1970, 1, 1, 0, 0, 0
		p := 0
		for _, t := range tf.fast {
			var ok bool
			switch t.field {
			case 0:
				if p >= len(b) || b[p] != t.lit {
					return 0, false
				}
				p++
				continue
			case 'Y':
				y, ok = digits(b[p:], 4)
				p += 4
			case 'm':
				mo, ok = digits(b[p:], 2)
				p += 2
			case 'd':
				d, ok = digits(b[p:], 2)
				p += 2
			case 'H':
				h, ok = digits(b[p:], 2)
				p += 2
			case 'M':
				mi, ok = digits(b[p:], 2)
				p += 2
			case 'S':
				s, ok = digits(b[p:], 2)
				p += 2
			}
			if !ok {
				return 0, false
			}
		}
		if p != len(b) || mo < 1 || mo > 12 || d < 1 || d > daysIn(mo, y) || h > 23 || mi > 59 || s > 59 {
			return 0, false
		}
		if !tf.utc {
			return time.Date(y, time.Month(mo), d, h, mi, s, 0, tf.loc).UnixMicro(), true
		}
		return (daysFromCivil(y, mo, d)*86400 + int64(h*3600+mi*60+s)) * 1e6, true
	}
	t, err := time.ParseInLocation(tf.layout, string(b), tf.loc)
	if err != nil {
		return 0, false
	}
	return t.UnixMicro(), true
}

// detectTimeFormat picks the auto layout that parses most of the sample
// values; ok is false when none parses at least half of them.
func detectTimeFormat(sample [][]byte, loc *time.Location) (*timeFormat, bool) {
	var best *timeFormat
	bestN := 0
	for _, l := range autoLayouts {
		tf := newTimeFormat(l, loc)
		n := 0
		for _, v := range sample {
			if _, ok := tf.parse(v); ok {
				n++
			}
		}
		if n > bestN {
			best, bestN = tf, n
		}
		if n == len(sample) && n > 0 {
			break
		}
	}
	// unix seconds would accept any number: only when values look like epochs
	if best != nil && (best.kind == tfUnix || best.kind == tfUnixMS) {
		for _, v := range sample {
			v = trimSpace(v)
			if best.kind == tfUnix && (len(v) < 9 || len(v) > 11) || best.kind == tfUnixMS && (len(v) < 12 || len(v) > 14) {
				return nil, false
			}
		}
	}
	return best, best != nil && bestN*2 >= len(sample)
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
