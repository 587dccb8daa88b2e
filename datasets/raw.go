package datasets

import (
	"context"
	"fmt"
	"strconv"
)

// rawKind is how a source column's values arrive from a reader.
type rawKind uint8

const (
	rawText  rawKind = iota // bytes to parse (CSV, text columns)
	rawFloat                // float64
	rawInt                  // int64
	rawTime                 // int64 microseconds UTC
	rawBool                 // int64 0/1
)

// rawCol holds one source column of a batch. Text values are
// buf[end[i-1]:end[i]]; typed values are in f or i with null marking nulls.
type rawCol struct {
	kind rawKind
	buf  []byte
	end  []int32
	f    []float64
	i    []int64
	null []bool
}

func (c *rawCol) reset(k rawKind) {
	c.kind = k
	c.buf = c.buf[:0]
	c.end = c.end[:0]
	c.f = c.f[:0]
	c.i = c.i[:0]
	c.null = c.null[:0]
}

func (c *rawCol) text(r int) []byte {
	s := int32(0)
	if r > 0 {
		s = c.end[r-1]
	}
	return c.buf[s:c.end[r]]
}

func (c *rawCol) appendText(b []byte) {
	c.buf = append(c.buf, b...)
	c.end = append(c.end, int32(len(c.buf)))
}

// isNull reports whether row r is null or empty text.
func (c *rawCol) isNull(r int) bool {
	if c.kind == rawText {
		return len(trimSpace(c.text(r))) == 0
	}
	return c.null[r]
}

// display renders row r's value for messages and the quarantine file.
func (c *rawCol) display(r int) string {
	switch c.kind {
	case rawText:
		v := c.text(r)
		if len(v) > 200 {
			v = v[:200]
		}
		return string(v)
	}
	if c.null[r] {
		return ""
	}
	switch c.kind {
	case rawFloat:
		return strconv.FormatFloat(c.f[r], 'g', -1, 64)
	default:
		return strconv.FormatInt(c.i[r], 10)
	}
}

// rawBatch is a block of source rows, column-major over the source columns
// the mapping uses (slots). line is each row's source line (CSV) or row
// number (other readers), 1-based.
type rawBatch struct {
	n    int
	line []int64
	cols []rawCol
}

func (b *rawBatch) reset(nslots int) {
	b.n = 0
	b.line = b.line[:0]
	if cap(b.cols) < nslots {
		b.cols = make([]rawCol, nslots)
	}
	b.cols = b.cols[:nslots]
}

// sourceReader streams a source as raw batches.
type sourceReader interface {
	// columns returns the source column names (for a headerless CSV: "1".."n").
	columns() []string
	// run streams the given source columns (indexes into columns()) to emit,
	// from workers() goroutines at most; a batch is reused after emit returns.
	run(ctx context.Context, cols []int, emit func(worker int, b *rawBatch) error) error
	workers() int
	close() error
}

// InputError is bad input: a file, line and column when known. It maps to
// exit status 2.
type InputError struct {
	File   string
	Line   int64
	Column string
	Msg    string
	Err    error
}

func (e *InputError) Error() string {
	s := ""
	if e.File != "" {
		s = e.File
		if e.Line > 0 {
			s += fmt.Sprintf(" line %d", e.Line)
		}
		s += ": "
	}
	if e.Column != "" {
		s += "column " + strconv.Quote(e.Column) + ": "
	}
	s += e.Msg
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *InputError) Unwrap() error { return e.Err }

// BadInput marks the error as bad input (exit status 2).
func (e *InputError) BadInput() bool { return true }

// ExitCode is 2: bad input.
func (e *InputError) ExitCode() int { return 2 }
