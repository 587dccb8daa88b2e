package datasets

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sync/errgroup"
)

// csvReader streams a CSV (optionally gzip) file: one goroutine cuts the
// byte stream into chunks of whole records, workers split and copy fields.
type csvReader struct {
	path    string
	display string
	f       *os.File
	r       io.Reader
	delim   byte // 0 = whitespace
	header  []string
	first   []byte // bytes already read past the header
	line1   int64  // line number of the first data record
	nfields int
	nwork   int
	q       *quarantine
	// mapped is the whole file mapped into memory (an uncompressed
	// regular file where mapping works): chunks are cut straight from it
	// from dataOff on, the offset of the first data record.
	mapped  []byte
	dataOff int
}

const csvChunk = 4 << 20

func openCSV(path, display string, src *Source, q *quarantine) (*csvReader, error) {
	d, err := delimiterByte(src.Delimiter)
	if err != nil {
		return nil, &InputError{File: display, Msg: err.Error()}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, &InputError{File: display, Msg: "cannot open", Err: err}
	}
	cr := &csvReader{path: path, display: display, f: f, delim: d, q: q, nwork: max(1, min(runtime.GOMAXPROCS(0), 4))}
	br := bufio.NewReaderSize(f, 1<<20)
	magic, _ := br.Peek(2)
	cr.r = br
	gzipped := len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b
	if gzipped {
		gz, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, &InputError{File: display, Msg: "corrupt gzip header", Err: err}
		}
		cr.r = bufio.NewReaderSize(gz, 1<<20)
	} else if strings.HasSuffix(path, ".gz") {
		f.Close()
		return nil, &InputError{File: display, Msg: "file name ends in .gz but the file is not gzip"}
	}
	// first chunk: BOM, header, field count
	buf := make([]byte, 0, csvChunk)
	buf, err = readChunk(cr.r, buf)
	if err != nil && !errors.Is(err, io.EOF) {
		f.Close()
		return nil, cr.readErr(err, 0)
	}
	bom := 0
	if bytes.HasPrefix(buf, []byte("\xef\xbb\xbf")) {
		buf, bom = buf[3:], 3
	}
	if len(bytes.TrimSpace(buf)) == 0 {
		f.Close()
		return nil, &InputError{File: display, Msg: "file is empty (no header and no rows)"}
	}
	end, ok := recordEnd(buf, true)
	if !ok {
		end = len(buf)
	}
	rec := buf[:end]
	var fields [][]byte
	var scratch []byte
	fields, scratch, err = splitRecord(rec, d, fields, scratch)
	if err != nil {
		f.Close()
		return nil, &InputError{File: display, Line: 1, Msg: err.Error()}
	}
	cr.nfields = len(fields)
	if src.HasHeader() {
		seen := map[string]int{}
		for i, fb := range fields {
			name := strings.TrimSpace(string(fb))
			if name == "" {
				name = strconv.Itoa(i + 1)
			}
			if j, dup := seen[name]; dup {
				f.Close()
				return nil, &InputError{File: display, Line: 1, Column: name, Msg: fmt.Sprintf("duplicate header name (columns %d and %d); rename one", j+1, i+1)}
			}
			seen[name] = i
			cr.header = append(cr.header, name)
		}
		if end < len(buf) {
			end++ // the newline
		}
		cr.first = buf[end:]
		cr.line1 = 2 + int64(bytes.Count(rec, []byte{'\n'}))
	} else {
		for i := range fields {
			cr.header = append(cr.header, strconv.Itoa(i+1))
		}
		cr.first = buf
		cr.line1 = 1
	}
	if !gzipped {
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			if m, ok := mapFile(f, st.Size()); ok {
				cr.mapped = m
				cr.dataOff = bom + len(buf) - len(cr.first)
			}
		}
	}
	return cr, nil
}

func (c *csvReader) readErr(err error, line int64) error {
	var corrupt flate.CorruptInputError
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) || errors.As(err, &corrupt) {
		return &InputError{File: c.display, Line: line, Msg: "truncated or corrupt gzip stream", Err: err}
	}
	return fmt.Errorf("reading %s: %w", c.display, err)
}

func (c *csvReader) columns() []string { return c.header }
func (c *csvReader) workers() int      { return c.nwork }
func (c *csvReader) close() error {
	if c.mapped != nil {
		unmapFile(c.mapped)
		c.mapped = nil
	}
	return c.f.Close()
}

// guardMapped, deferred by a goroutine that reads c.mapped with
// debug.SetPanicOnFault on, turns a fault inside the mapping (the file
// shrank while it was read) into bad input on *err; any other panic goes
// on.
func (c *csvReader) guardMapped(err *error) {
	r := recover()
	if r == nil {
		return
	}
	if f, ok := r.(interface{ Addr() uintptr }); ok && len(c.mapped) > 0 {
		lo := uintptr(unsafe.Pointer(unsafe.SliceData(c.mapped)))
		if a := f.Addr(); a >= lo && a < lo+uintptr(len(c.mapped)) {
			*err = &InputError{File: c.display, Msg: "the file changed (was cut short) while it was being read"}
			return
		}
	}
	panic(r)
}

// nextMapped returns the next chunk of whole records of c.mapped from pos
// on: about csvChunk bytes, longer when one record is, the rest of the file
// at its end.
func (c *csvReader) nextMapped(pos int) []byte {
	for n := csvChunk; ; n *= 2 {
		if pos+n >= len(c.mapped) {
			return c.mapped[pos:]
		}
		if e, ok := recordEnd(c.mapped[pos:pos+n], false); ok {
			return c.mapped[pos : pos+e+1]
		}
	}
}

// readChunk fills buf (up to its capacity) from r.
func readChunk(r io.Reader, buf []byte) ([]byte, error) {
	for len(buf) < cap(buf) {
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// nextRecord returns the length of data's first record (without its
// newline) and whether a newline ended it; newlines inside quotes belong to
// the record. Linear in the record's length.
func nextRecord(data []byte) (int, bool) {
	quotes := 0
	pos := 0
	for {
		i := bytes.IndexByte(data[pos:], '\n')
		if i < 0 {
			return len(data), false
		}
		quotes += bytes.Count(data[pos:pos+i], quoteByte)
		if quotes%2 == 0 {
			return pos + i, true
		}
		pos += i + 1
	}
}

var quoteByte = []byte{'"'}

// recordEnd returns the index of the newline ending the first record (first
// = true) or the last complete record of buf, honouring quotes.
func recordEnd(buf []byte, first bool) (int, bool) {
	if first {
		n, ok := nextRecord(buf)
		return n, ok
	}
	if bytes.IndexByte(buf, '"') < 0 {
		i := bytes.LastIndexByte(buf, '\n')
		return i, i >= 0
	}
	last := -1
	for pos := 0; pos < len(buf); {
		n, ok := nextRecord(buf[pos:])
		if !ok {
			break
		}
		last = pos + n
		pos += n + 1
	}
	return last, last >= 0
}

type csvChunkT struct {
	data []byte
	line int64 // line number of the first record
}

func (c *csvReader) run(ctx context.Context, cols []int, emit func(int, *rawBatch) error) error {
	g, ctx := errgroup.WithContext(ctx)
	chunks := make(chan csvChunkT, c.nwork)
	free := make(chan []byte, c.nwork+2)
	g.Go(func() (err error) {
		defer close(chunks)
		if c.mapped != nil {
			defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
			defer c.guardMapped(&err)
			line := c.line1
			for pos := c.dataOff; pos < len(c.mapped); {
				data := c.nextMapped(pos)
				select {
				case chunks <- csvChunkT{data: data, line: line}:
				case <-ctx.Done():
					return ctx.Err()
				}
				line += int64(bytes.Count(data, []byte{'\n'}))
				pos += len(data)
			}
			return nil
		}
		carry := c.first
		line := c.line1
		eof := false
		for !eof {
			var buf []byte
			select {
			case buf = <-free:
				buf = buf[:0]
			default:
				buf = make([]byte, 0, csvChunk)
			}
			if cap(buf) < len(carry)+csvChunk/2 {
				buf = make([]byte, 0, len(carry)+csvChunk)
			}
			buf = append(buf, carry...)
			var err error
			if len(buf) < cap(buf) {
				buf, err = readChunk(c.r, buf)
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					return c.readErr(err, line)
				}
				eof = true
			}
			var end int
			if eof {
				end = len(buf)
				carry = nil
			} else {
				e, ok := recordEnd(buf, false)
				if !ok { // one record longer than the chunk: read on
					carry = append([]byte(nil), buf...)
					continue
				}
				end = e + 1
				carry = append([]byte(nil), buf[end:]...)
			}
			if end == 0 {
				continue
			}
			data := buf[:end]
			select {
			case chunks <- csvChunkT{data: data, line: line}:
			case <-ctx.Done():
				return ctx.Err()
			}
			line += int64(bytes.Count(data, []byte{'\n'}))
		}
		return nil
	})
	for w := 0; w < c.nwork; w++ {
		g.Go(func() (err error) {
			if c.mapped != nil {
				defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
				defer c.guardMapped(&err)
			}
			var b rawBatch
			var fields [][]byte
			var scratch []byte
			for ch := range chunks {
				if err := ctx.Err(); err != nil {
					return err
				}
				b.reset(len(cols))
				for k := range b.cols {
					b.cols[k].reset(rawText)
				}
				data := ch.data
				line := ch.line
				quoted := bytes.IndexByte(data, '"') >= 0
				for len(data) > 0 {
					var rec []byte
					nl := 1
					if !quoted {
						i := bytes.IndexByte(data, '\n')
						if i < 0 {
							rec, data = data, nil
						} else {
							rec, data = data[:i], data[i+1:]
						}
					} else {
						i, ok := nextRecord(data)
						if !ok {
							rec, data = data, nil
						} else {
							rec, data = data[:i], data[i+1:]
						}
						nl += bytes.Count(rec, []byte{'\n'})
					}
					if len(rec) > 0 && rec[len(rec)-1] == '\r' {
						rec = rec[:len(rec)-1]
					}
					if len(rec) == 0 || c.delim == 0 && len(trimSpace(rec)) == 0 {
						line += int64(nl)
						continue // blank line
					}
					var err error
					fields, scratch, err = splitRecord(rec, c.delim, fields[:0], scratch[:0])
					if err != nil {
						c.q.add(c.display, line, "", string(truncate(rec, 200)), err.Error())
					} else if len(fields) != c.nfields {
						c.q.add(c.display, line, "", string(truncate(rec, 200)), fmt.Sprintf("row has %d fields, want %d", len(fields), c.nfields))
					} else {
						for k, ci := range cols {
							b.cols[k].appendText(fields[ci])
						}
						b.line = append(b.line, line)
						b.n++
					}
					line += int64(nl)
				}
				if b.n > 0 {
					if err := emit(w, &b); err != nil {
						return err
					}
				}
				if c.mapped == nil {
					select {
					case free <- ch.data[:0]:
					default:
					}
				} else {
					lo := int(uintptr(unsafe.Pointer(unsafe.SliceData(ch.data))) - uintptr(unsafe.Pointer(unsafe.SliceData(c.mapped))))
					dropMapped(c.mapped, lo, lo+len(ch.data))
				}
			}
			return nil
		})
	}
	return g.Wait()
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// splitRecord splits one record (no trailing newline) into fields. Quoted
// fields with doubled quotes are unescaped into scratch.
func splitRecord(rec []byte, delim byte, fields [][]byte, scratch []byte) ([][]byte, []byte, error) {
	if delim == 0 {
		i := 0
		for {
			for i < len(rec) && (rec[i] == ' ' || rec[i] == '\t') {
				i++
			}
			if i >= len(rec) {
				return fields, scratch, nil
			}
			j := i
			for j < len(rec) && rec[j] != ' ' && rec[j] != '\t' {
				j++
			}
			fields = append(fields, rec[i:j])
			i = j
		}
	}
	for i := 0; ; {
		if i < len(rec) && rec[i] == '"' {
			// quoted field
			j := i + 1
			start := len(scratch)
			plain := true
			for {
				k := bytes.IndexByte(rec[j:], '"')
				if k < 0 {
					return fields, scratch, errors.New("unterminated quoted field")
				}
				if j+k+1 < len(rec) && rec[j+k+1] == '"' { // escaped quote
					if plain {
						plain = false
					}
					scratch = append(scratch, rec[j:j+k+1]...)
					j += k + 2
					continue
				}
				if plain {
					fields = append(fields, rec[i+1:j+k])
				} else {
					scratch = append(scratch, rec[j:j+k]...)
					fields = append(fields, scratch[start:len(scratch):len(scratch)])
				}
				j += k + 1
				break
			}
			if j == len(rec) {
				return fields, scratch, nil
			}
			if rec[j] != delim {
				return fields, scratch, fmt.Errorf("unexpected %q after a closing quote", rec[j])
			}
			i = j + 1
			if i == len(rec) {
				return append(fields, rec[i:]), scratch, nil
			}
			continue
		}
		k := bytes.IndexByte(rec[i:], delim)
		if k < 0 {
			return append(fields, rec[i:]), scratch, nil
		}
		fields = append(fields, rec[i:i+k])
		i += k + 1
		if i == len(rec) {
			return append(fields, rec[i:]), scratch, nil
		}
	}
}
