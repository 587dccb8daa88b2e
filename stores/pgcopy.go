package stores

import (
	"encoding/binary"
	"io"
	"math"
	"time"
)

// copyReader is a Postgres binary COPY stream (COPY … FROM STDIN (FORMAT
// binary)) produced row by row into one reused buffer. Values are encoded
// straight from the rows: no interface boxing and no encode-plan lookup per
// value, which pgx's CopyFrom spends most of its time on. The encoders below
// must match the column types of the DDL in sql.go exactly (binary COPY does
// not convert): TEXT, DATE, TIMESTAMPTZ, DOUBLE PRECISION, BOOLEAN, INTEGER.
type copyReader struct {
	b     []byte
	off   int
	row   func(b []byte) ([]byte, bool) // appends the next row, false when there is none
	state int                           // 0 before the header, 1 in rows, 2 after the trailer
}

func newCopyReader(row func(b []byte) ([]byte, bool)) *copyReader {
	return &copyReader{b: make([]byte, 0, 1<<17), row: row}
}

// copyHeader is the binary COPY signature, flags and header extension length.
var copyHeader = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

func (r *copyReader) Read(p []byte) (int, error) {
	for r.off == len(r.b) {
		if r.state == 2 {
			return 0, io.EOF
		}
		r.b, r.off = r.b[:0], 0
		if r.state == 0 {
			r.b, r.state = append(r.b, copyHeader...), 1
		}
		for len(r.b) < 1<<16 {
			var ok bool
			if r.b, ok = r.row(r.b); !ok {
				r.b, r.state = binary.BigEndian.AppendUint16(r.b, 0xffff), 2
				break
			}
		}
	}
	n := copy(p, r.b[r.off:])
	r.off += n
	return n, nil
}

// pgEpochUnix is 2000-01-01T00:00:00Z, Postgres's epoch for dates and times.
const pgEpochUnix = 946684800

func cpFields(b []byte, n int) []byte { return binary.BigEndian.AppendUint16(b, uint16(n)) }

func cpNull(b []byte) []byte { return binary.BigEndian.AppendUint32(b, 0xffffffff) }

func cpText(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// cpTextNull is cpText with "" as NULL.
func cpTextNull(b []byte, s string) []byte {
	if s == "" {
		return cpNull(b)
	}
	return cpText(b, s)
}

func cpFloat(b []byte, v float64) []byte {
	b = binary.BigEndian.AppendUint32(b, 8)
	return binary.BigEndian.AppendUint64(b, math.Float64bits(v))
}

// cpFloatNull is cpFloat with NaN and ±Inf as NULL (unknown numbers).
func cpFloatNull(b []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return cpNull(b)
	}
	return cpFloat(b, v)
}

func cpBool(b []byte, v bool) []byte {
	b = binary.BigEndian.AppendUint32(b, 1)
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func cpInt4(b []byte, v int32) []byte {
	b = binary.BigEndian.AppendUint32(b, 4)
	return binary.BigEndian.AppendUint32(b, uint32(v))
}

// pgDays is the DATE of t's UTC day: days since 2000-01-01.
func pgDays(t time.Time) int32 {
	s := t.Unix() - pgEpochUnix
	d := s / 86400
	if s%86400 < 0 {
		d--
	}
	return int32(d)
}

// cpDate encodes t's UTC day; the zero time is NULL.
func cpDate(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return cpNull(b)
	}
	return cpDays(b, pgDays(t))
}

func cpDays(b []byte, d int32) []byte { return cpInt4(b, d) }

// pgMicros is a TIMESTAMPTZ: microseconds since 2000-01-01 UTC (sub-microsecond
// digits dropped, as pgx does).
func pgMicros(t time.Time) int64 {
	return (t.Unix()-pgEpochUnix)*1e6 + int64(t.Nanosecond())/1000
}

// cpTime encodes a TIMESTAMPTZ; the zero time is NULL.
func cpTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return cpNull(b)
	}
	return cpMicros(b, pgMicros(t))
}

func cpMicros(b []byte, us int64) []byte {
	b = binary.BigEndian.AppendUint32(b, 8)
	return binary.BigEndian.AppendUint64(b, uint64(us))
}
