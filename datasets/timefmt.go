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
	// iso is 19 for a layout of the shape 2006-01-02 15:04:05 and 10 for
	// 2006-01-02 (any one-byte separators, sep), parsed at fixed offsets
	// without going through the tokens; 0 otherwise.
	iso int
	sep [5]byte
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
	tf.iso, tf.sep = isoShape(tf.fast)
	return tf
}

// isoShape recognises the tokens Y s m s d [s H s M s S] (s: one literal
// byte each) and returns the layout's width (10 or 19) and separators.
func isoShape(toks []fastTok) (int, [5]byte) {
	var sep [5]byte
	fields := []byte{'Y', 'm', 'd', 'H', 'M', 'S'}
	var n int
	switch len(toks) {
	case 5:
		n = 10
	case 11:
		n = 19
	default:
		return 0, sep
	}
	for i, t := range toks {
		if i%2 == 0 {
			if t.field != fields[i/2] {
				return 0, sep
			}
		} else {
			if t.field != 0 {
				return 0, sep
			}
			sep[i/2] = t.lit
		}
	}
	return n, sep
}

// parseTokens reads the fields through the layout's tokens (fields the
// layout lacks: 1970-01-01 00:00:00).
func (tf *timeFormat) parseTokens(b []byte) (y, mo, d, h, mi, s int, ok bool) {
	y, mo, d = 1970, 1, 1
	p := 0
	for _, t := range tf.fast {
		if t.field == 0 {
			if p >= len(b) || b[p] != t.lit {
				return y, mo, d, h, mi, s, false
			}
			p++
			continue
		}
		width := 2
		if t.field == 'Y' {
			width = 4
		}
		v, ok := digits(b[p:], width)
		if !ok {
			return y, mo, d, h, mi, s, false
		}
		p += width
		switch t.field {
		case 'Y':
			y = v
		case 'm':
			mo = v
		case 'd':
			d = v
		case 'H':
			h = v
		case 'M':
			mi = v
		case 'S':
			s = v
		}
	}
	return y, mo, d, h, mi, s, p == len(b)
}

// parseISO reads the fields of a value of width tf.iso (checked by the
// caller) at their fixed offsets.
func (tf *timeFormat) parseISO(b []byte) (y, mo, d, h, mi, s int, ok bool) {
	if b[4] != tf.sep[0] || b[7] != tf.sep[1] {
		return
	}
	c0, c1, c2, c3 := b[0]-'0', b[1]-'0', b[2]-'0', b[3]-'0'
	c5, c6, c8, c9 := b[5]-'0', b[6]-'0', b[8]-'0', b[9]-'0'
	if c0 > 9 || c1 > 9 || c2 > 9 || c3 > 9 || c5 > 9 || c6 > 9 || c8 > 9 || c9 > 9 {
		return
	}
	y = int(c0)*1000 + int(c1)*100 + int(c2)*10 + int(c3)
	mo, d = int(c5)*10+int(c6), int(c8)*10+int(c9)
	if tf.iso == 10 {
		return y, mo, d, 0, 0, 0, true
	}
	if b[10] != tf.sep[2] || b[13] != tf.sep[3] || b[16] != tf.sep[4] {
		return
	}
	e0, e1, e3, e4, e6, e7 := b[11]-'0', b[12]-'0', b[14]-'0', b[15]-'0', b[17]-'0', b[18]-'0'
	if e0 > 9 || e1 > 9 || e3 > 9 || e4 > 9 || e6 > 9 || e7 > 9 {
		return
	}
	return y, mo, d, int(e0)*10 + int(e1), int(e3)*10 + int(e4), int(e6)*10 + int(e7), true
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
			// letters may start layout elements (Jan, Mon, PM, MST, Z07);
			// a T between the date and the time is a literal
			if c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' && c != 'T' || c >= 'a' && c <= 'z' {
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
		// the fixed-width fast path; a value it refuses goes on to the
		// standard parser, which has the last word (it also takes, e.g.,
		// a one-digit hour for 15)
		var y, mo, d, h, mi, s int
		var ok bool
		if tf.iso != 0 && len(b) == tf.iso {
			y, mo, d, h, mi, s, ok = tf.parseISO(b)
		} else if tf.iso == 0 {
			y, mo, d, h, mi, s, ok = tf.parseTokens(b)
		}
		if ok && mo >= 1 && mo <= 12 && d >= 1 && d <= daysIn(mo, y) && h <= 23 && mi <= 59 && s <= 59 {
			if !tf.utc {
				return time.Date(y, time.Month(mo), d, h, mi, s, 0, tf.loc).UnixMicro(), true
			}
			return (daysFromCivil(y, mo, d)*86400 + int64(h*3600+mi*60+s)) * 1e6, true
		}
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
