package stores

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// appendReasonsJSON appends what json.Marshal gives for reasons (a
// non-empty list), byte for byte, without reflection: strings that need no
// escaping are copied, others go through encoding/json; numbers are
// formatted as encoding/json formats a float64. ok is false where
// json.Marshal fails (a NaN or infinite contribution).
func appendReasonsJSON(b []byte, reasons []Reason) (_ []byte, ok bool) {
	b = append(b, '[')
	for i := range reasons {
		r := &reasons[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"feature":`...)
		b = appendJSONString(b, r.Feature)
		b = append(b, `,"contribution":`...)
		f := r.Contribution
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return b, false
		}
		format := byte('f')
		if a := math.Abs(f); a != 0 && (a < 1e-6 || a >= 1e21) {
			format = 'e'
		}
		b = strconv.AppendFloat(b, f, format, -1, 64)
		if format == 'e' { // e-09 → e-9, as encoding/json writes it
			if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
				b[n-2] = b[n-1]
				b = b[:n-1]
			}
		}
		b = append(b, `,"text":`...)
		b = appendJSONString(b, r.Text)
		b = append(b, '}')
	}
	return append(b, ']'), true
}

// appendJSONString appends s as encoding/json encodes it (HTML-escaped).
func appendJSONString(b []byte, s string) []byte {
	plain := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' || c >= utf8.RuneSelf {
			plain = false
			break
		}
	}
	if !plain && !(utf8.ValidString(s) && onlyPlainASCIIOrText(s)) {
		q, _ := json.Marshal(s) // a string cannot fail
		return append(b, q...)
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// onlyPlainASCIIOrText reports whether valid UTF-8 s needs no escaping:
// no ASCII byte encoding/json escapes, no U+2028 or U+2029.
func onlyPlainASCIIOrText(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' || c == 0x7f {
			return false
		}
	}
	return !strings.ContainsRune(s, '\u2028') && !strings.ContainsRune(s, '\u2029')
}
