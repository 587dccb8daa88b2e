package pipeline

import (
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/retainlab/retain/stores"
)

// reasonsJSON is stores.RiskRow.ReasonsJSON (encoding/json's bytes: the
// list scores.parquet stores and the row hash covers) written directly for
// the usual reasons — plain text, contributions in 'f' notation — with
// ok false when a reason needs more (escapes, exponent notation, NaN), for
// the caller to use ReasonsJSON itself.
func reasonsJSON(buf []byte, rs []stores.Reason) (_ []byte, ok bool) {
	if len(rs) == 0 {
		return append(buf, "[]"...), true
	}
	buf = append(buf, '[')
	for k := range rs {
		r := &rs[k]
		if k > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"feature":"`...)
		if buf, ok = plainJSONString(buf, r.Feature); !ok {
			return buf, false
		}
		buf = append(buf, `","contribution":`...)
		c := r.Contribution
		if a := math.Abs(c); math.IsNaN(c) || math.IsInf(c, 0) || (a != 0 && (a < 1e-6 || a >= 1e21)) {
			return buf, false
		}
		buf = strconv.AppendFloat(buf, c, 'f', -1, 64)
		buf = append(buf, `,"text":"`...)
		if buf, ok = plainJSONString(buf, r.Text); !ok {
			return buf, false
		}
		buf = append(buf, `"}`...)
	}
	return append(buf, ']'), true
}

// plainJSONString appends s when encoding/json writes it unchanged: valid
// UTF-8 without control characters, quotes, backslashes, HTML's <, > and &,
// or U+2028/U+2029.
func plainJSONString(buf []byte, s string) ([]byte, bool) {
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b < 0x20 || b == '"' || b == '\\' || b == '<' || b == '>' || b == '&' {
				return buf, false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			return buf, false
		}
		i += size
	}
	return append(buf, s...), true
}
