package datasets

import (
	"context"
	"database/sql"
	"fmt"
	"math/big"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"golang.org/x/sync/errgroup"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// watermarkTracker remembers the largest watermark value seen.
type watermarkTracker struct {
	slot int
	last string
	num  float64
	tm   time.Time
	kind int // 0 none, 1 number, 2 time, 3 text
}

func (w *watermarkTracker) see(v any) {
	switch x := v.(type) {
	case nil:
	case int64:
		w.seeNum(float64(x), strconv.FormatInt(x, 10))
	case int32:
		w.seeNum(float64(x), strconv.FormatInt(int64(x), 10))
	case float64:
		w.seeNum(x, strconv.FormatFloat(x, 'g', -1, 64))
	case time.Time:
		if w.kind == 0 || x.After(w.tm) {
			w.kind, w.tm, w.last = 2, x, x.UTC().Format(time.RFC3339Nano)
		}
	default:
		s := fmt.Sprint(x)
		if b, ok := x.([]byte); ok {
			s = string(b)
		}
		if w.kind == 0 || s > w.last {
			w.kind, w.last = 3, s
		}
	}
}

func (w *watermarkTracker) seeNum(f float64, s string) {
	if w.kind == 0 || f > w.num {
		w.kind, w.num, w.last = 1, f, s
	}
}

// sqlReader streams a query's rows (postgres via pgx, sqlite via
// database/sql) in batches; one worker.
type sqlReader struct {
	display string
	names   []string
	next    func() ([]any, error) // nil, nil at the end
	closeFn func() error
	loc     *time.Location
	wm      *watermarkTracker
}

func (s *sqlReader) columns() []string            { return s.names }
func (s *sqlReader) workers() int                 { return 1 }
func (s *sqlReader) close() error                 { return s.closeFn() }
func (s *sqlReader) watermark() *watermarkTracker { return s.wm }

const sqlBatch = 8192

func (s *sqlReader) run(ctx context.Context, cols []int, emit func(int, *rawBatch) error) error {
	var b rawBatch
	rows := make([][]any, 0, sqlBatch)
	var line int64
	flush := func() error {
		b.reset(len(cols))
		b.n = len(rows)
		for r := range rows {
			b.line = append(b.line, line-int64(len(rows))+int64(r)+1)
		}
		for k, ci := range cols {
			fillRawCol(&b.cols[k], rows, ci)
		}
		rows = rows[:0]
		return emit(0, &b)
	}
	for {
		v, err := s.next()
		if err != nil {
			return fmt.Errorf("%s: reading row %d: %w", s.display, line+1, err)
		}
		if v == nil {
			break
		}
		line++
		if s.wm != nil {
			s.wm.see(v[s.wm.slot])
		}
		rows = append(rows, v)
		if len(rows) == sqlBatch {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if len(rows) > 0 {
		return flush()
	}
	return nil
}

// fillRawCol builds one raw column from row values: typed when every
// non-null value has one Go kind, text otherwise.
func fillRawCol(c *rawCol, rows [][]any, ci int) {
	kind := -1
	for _, r := range rows {
		k := valueKind(r[ci])
		if k < 0 {
			continue
		}
		if kind < 0 {
			kind = k
		} else if kind != k {
			if (kind == int(rawInt) || kind == int(rawFloat)) && (k == int(rawInt) || k == int(rawFloat)) {
				kind = int(rawFloat)
			} else {
				kind = int(rawText)
			}
		}
	}
	if kind < 0 {
		kind = int(rawText)
	}
	c.reset(rawKind(kind))
	for _, r := range rows {
		v := r[ci]
		if c.kind == rawText {
			c.appendText(textOf(v))
			continue
		}
		if v == nil {
			c.null = append(c.null, true)
			c.f = append(c.f, 0)
			c.i = append(c.i, 0)
			continue
		}
		c.null = append(c.null, false)
		switch c.kind {
		case rawFloat:
			f, _ := toFloat(v)
			c.f = append(c.f, f)
			c.i = append(c.i, 0)
		case rawInt, rawBool:
			n, _ := toInt(v)
			c.i = append(c.i, n)
			c.f = append(c.f, 0)
		case rawTime:
			c.i = append(c.i, v.(time.Time).UnixMicro())
			c.f = append(c.f, 0)
		}
	}
}

func valueKind(v any) int {
	switch x := v.(type) {
	case nil:
		return -1
	case int64, int32, int16, int8, int, uint32, uint16, uint8:
		return int(rawInt)
	case float64, float32:
		return int(rawFloat)
	case bool:
		return int(rawBool)
	case time.Time:
		return int(rawTime)
	default:
		_ = x
	}
	return int(rawText)
}

// normalizePG turns pgx values without a plain Go type (numeric) into float64.
func normalizePG(v []any) []any {
	for i, x := range v {
		switch n := x.(type) {
		case pgtype.Numeric:
			if !n.Valid {
				v[i] = nil
				continue
			}
			f, err := n.Float64Value()
			if err == nil && f.Valid {
				v[i] = f.Float64
			}
		case [16]uint8: // uuid
			v[i] = fmt.Sprintf("%x-%x-%x-%x-%x", n[0:4], n[4:6], n[6:8], n[8:10], n[10:16])
		}
	}
	return v
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	}
	if n, ok := toInt(v); ok {
		return float64(n), true
	}
	return 0, false
}

func toInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int32:
		return int64(x), true
	case int16:
		return int64(x), true
	case int8:
		return int64(x), true
	case int:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint8:
		return int64(x), true
	case bool:
		return b2i(x), true
	}
	return 0, false
}

func textOf(v any) []byte {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		return []byte(x)
	case []byte:
		return x
	case time.Time:
		return []byte(x.Format(time.RFC3339Nano))
	case float64:
		return strconv.AppendFloat(nil, x, 'f', -1, 64)
	case int64:
		return strconv.AppendInt(nil, x, 10)
	case *big.Int:
		return []byte(x.String())
	case fmt.Stringer:
		return []byte(x.String())
	}
	return []byte(fmt.Sprint(v))
}

func openSQLite(ctx context.Context, src *Source, display, after string) (sourceReader, error) {
	path := src.Path
	if path == "" {
		path = src.DSN
	}
	if _, err := os.Stat(path); err != nil {
		return nil, &InputError{File: display, Msg: "cannot open SQLite database", Err: err}
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return nil, &InputError{File: display, Msg: "cannot open SQLite database", Err: err}
	}
	q, args := incrementalQuery(src, "?", after)
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		db.Close()
		return nil, &InputError{File: display, Msg: "query failed", Err: err}
	}
	names, err := rows.Columns()
	if err != nil {
		rows.Close()
		db.Close()
		return nil, fmt.Errorf("%s: %w", display, err)
	}
	r := &sqlReader{display: display, names: names}
	vals := make([]any, len(names))
	ptrs := make([]any, len(names))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	r.next = func() ([]any, error) {
		if !rows.Next() {
			return nil, rows.Err()
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		out := make([]any, len(vals))
		copy(out, vals)
		return out, nil
	}
	r.closeFn = func() error { rows.Close(); return db.Close() }
	if err := r.setWatermark(src); err != nil {
		r.closeFn()
		return nil, err
	}
	return r, nil
}

func (r *sqlReader) setWatermark(src *Source) error {
	if src.Watermark == "" {
		return nil
	}
	i := findColumn(r.names, src.Watermark)
	if i < 0 {
		return &InputError{File: r.display, Column: src.Watermark, Msg: "watermark column is not in the query's result"}
	}
	r.wm = &watermarkTracker{slot: i}
	return nil
}

// incrementalQuery is the configured query, restricted to rows whose
// watermark is beyond after (when set). The watermark value is passed as a
// number or a time when it looks like one.
func incrementalQuery(src *Source, placeholder, after string) (string, []any) {
	if after == "" || src.Watermark == "" {
		return src.Query, nil
	}
	q := fmt.Sprintf("SELECT * FROM (%s) retain_q WHERE %s > %s", src.Query, quoteIdent(src.Watermark), placeholder)
	if n, err := strconv.ParseInt(after, 10, 64); err == nil {
		return q, []any{n}
	}
	if f, err := strconv.ParseFloat(after, 64); err == nil {
		return q, []any{f}
	}
	if t, err := time.Parse(time.RFC3339Nano, after); err == nil {
		return q, []any{t}
	}
	return q, []any{after}
}

func openPostgres(ctx context.Context, src *Source, display, after string) (sourceReader, error) {
	conn, err := pgx.Connect(ctx, src.DSN)
	if err != nil {
		return nil, &InputError{File: display, Msg: "cannot connect to postgres", Err: err}
	}
	q, args := incrementalQuery(src, "$1", after)
	rows, err := conn.Query(ctx, q, args...)
	if err != nil {
		conn.Close(ctx)
		return nil, &InputError{File: display, Msg: "query failed", Err: err}
	}
	fds := rows.FieldDescriptions()
	names := make([]string, len(fds))
	for i, f := range fds {
		names[i] = f.Name
	}
	r := &sqlReader{display: display, names: names}
	r.next = func() ([]any, error) {
		if !rows.Next() {
			rows.Close()
			return nil, rows.Err()
		}
		v, err := rows.Values()
		if err != nil {
			return nil, err
		}
		return normalizePG(v), nil
	}
	r.closeFn = func() error { rows.Close(); return conn.Close(context.Background()) }
	if err := r.setWatermark(src); err != nil {
		r.closeFn()
		return nil, err
	}
	return r, nil
}

// sqlWatermark returns the row count and largest watermark of a SQL
// source's query: the cheap fingerprint of an unchanged source.
func sqlWatermark(ctx context.Context, src *Source) (int64, string, error) {
	q := fmt.Sprintf("SELECT count(*), CAST(max(%s) AS TEXT) FROM (%s) retain_q", quoteIdent(src.Watermark), src.Query)
	var n int64
	var w sql.NullString
	switch src.Format {
	case "postgres":
		conn, err := pgx.Connect(ctx, src.DSN)
		if err != nil {
			return 0, "", &InputError{File: "postgres", Msg: "cannot connect", Err: err}
		}
		defer conn.Close(ctx)
		if err := conn.QueryRow(ctx, q).Scan(&n, &w); err != nil {
			return 0, "", &InputError{File: "postgres query", Column: src.Watermark, Msg: "watermark query failed", Err: err}
		}
	case "sqlite":
		path := src.Path
		if path == "" {
			path = src.DSN
		}
		db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
		if err != nil {
			return 0, "", err
		}
		defer db.Close()
		if err := db.QueryRowContext(ctx, q).Scan(&n, &w); err != nil {
			return 0, "", &InputError{File: path, Column: src.Watermark, Msg: "watermark query failed", Err: err}
		}
	}
	return n, w.String, nil
}

func quoteIdent(s string) string { return strconv.Quote(s) }

// parquetReader reads row groups of a Parquet file in parallel, one
// FileReader per worker.
type parquetReader struct {
	path, display string
	names         []string
	nrg           int
	rgStart       []int64
	nrows         int64
	nwork         int
	loc           *time.Location
	// text marks the columns of a flat schema stored as UTF-8 BYTE_ARRAY:
	// they are read with arrow-go's column chunk readers, their values
	// copied from the decoded page straight into the batch, instead of
	// through pqarrow's string builder (value by value, with its own
	// offsets and reallocations: 6–9% of a 20M-row Parquet extract).
	text []bool
}

func openParquet(ctx context.Context, path, display string) (sourceReader, error) {
	pf, err := file.OpenParquetFile(path, false)
	if err != nil {
		return nil, &InputError{File: display, Msg: "not a readable Parquet file", Err: err}
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		return nil, &InputError{File: display, Msg: "not a readable Parquet file", Err: err}
	}
	sc, err := fr.Schema()
	if err != nil {
		return nil, &InputError{File: display, Msg: "unreadable Parquet schema", Err: err}
	}
	p := &parquetReader{path: path, display: display, nrg: pf.NumRowGroups(), nwork: max(1, min(runtime.GOMAXPROCS(0), 4))}
	for _, f := range sc.Fields() {
		p.names = append(p.names, f.Name)
	}
	var off int64
	for i := 0; i < p.nrg; i++ {
		p.rgStart = append(p.rgStart, off)
		off += pf.MetaData().RowGroup(i).NumRows()
	}
	p.nrows = off
	p.text = textColumns(pf, sc)
	return p, nil
}

// textColumns reports, per column of a flat schema, whether it is text
// stored as BYTE_ARRAY (nil for a nested schema, whose leaf and field
// indices differ).
func textColumns(pf *file.Reader, sc *arrow.Schema) []bool {
	md := pf.MetaData()
	if md.Schema.NumColumns() != len(sc.Fields()) {
		return nil
	}
	out := make([]bool, len(sc.Fields()))
	for j, f := range sc.Fields() {
		c := md.Schema.Column(j)
		out[j] = f.Type.ID() == arrow.STRING && c.PhysicalType() == parquet.Types.ByteArray && c.MaxRepetitionLevel() == 0
	}
	return out
}

// textReader reads one text column of a row group into raw columns.
type textReader struct {
	cr     *file.ByteArrayColumnChunkReader
	maxDef int16
	vals   []parquet.ByteArray
	defs   []int16
}

// read appends the column's next n values to c (reset to text first); a
// null is empty text.
func (t *textReader) read(c *rawCol, n int) error {
	c.reset(rawText)
	if cap(t.vals) < n {
		t.vals, t.defs = make([]parquet.ByteArray, n), make([]int16, n)
	}
	for n > 0 {
		total, got, err := t.cr.ReadBatchInPage(int64(n), t.vals[:n], t.defs[:n], nil)
		if err != nil {
			return err
		}
		if total == 0 {
			return fmt.Errorf("column ends %d values early", n)
		}
		if t.maxDef == 0 || got == int(total) {
			for _, v := range t.vals[:got] {
				c.buf = append(c.buf, v...)
				c.end = append(c.end, int32(len(c.buf)))
			}
		} else {
			v := 0
			for _, d := range t.defs[:total] {
				if d == t.maxDef {
					c.buf = append(c.buf, t.vals[v]...)
					v++
				}
				c.end = append(c.end, int32(len(c.buf)))
			}
		}
		n -= int(total)
	}
	return nil
}

// rows is the file's row count (from its footer).
func (p *parquetReader) rows() int64 { return p.nrows }

func (p *parquetReader) columns() []string { return p.names }
func (p *parquetReader) workers() int      { return p.nwork }
func (p *parquetReader) close() error      { return nil }

func (p *parquetReader) run(ctx context.Context, cols []int, emit func(int, *rawBatch) error) error {
	g, ctx := errgroup.WithContext(ctx)
	rgs := make(chan int)
	g.Go(func() error {
		defer close(rgs)
		for i := 0; i < p.nrg; i++ {
			select {
			case rgs <- i:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	for w := 0; w < p.nwork; w++ {
		g.Go(func() (err error) {
			defer func() {
				if r := recover(); r != nil {
					err = &InputError{File: p.display, Msg: fmt.Sprintf("corrupt Parquet file: %v", r)}
				}
			}()
			pf, err := file.OpenParquetFile(p.path, false)
			if err != nil {
				return &InputError{File: p.display, Msg: "not a readable Parquet file", Err: err}
			}
			defer pf.Close()
			// Text columns go through column chunk readers (textReader),
			// the others through pqarrow; both in batches of the same rows.
			var other, otherK, textK []int
			for k, c := range cols {
				if c < len(p.text) && p.text[c] {
					textK = append(textK, k)
				} else {
					other, otherK = append(other, c), append(otherK, k)
				}
			}
			const batchRows = 64 << 10
			fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: batchRows}, memory.DefaultAllocator)
			if err != nil {
				return &InputError{File: p.display, Msg: "not a readable Parquet file", Err: err}
			}
			texts := make([]textReader, len(textK))
			var b rawBatch
			for rg := range rgs {
				rgErr := func(err error) error {
					return &InputError{File: p.display, Msg: fmt.Sprintf("reading row group %d", rg), Err: err}
				}
				rgr := pf.RowGroup(rg)
				for i, k := range textK {
					cr, err := rgr.Column(cols[k])
					if err != nil {
						return rgErr(err)
					}
					br, ok := cr.(*file.ByteArrayColumnChunkReader)
					if !ok {
						return rgErr(fmt.Errorf("column %s is not BYTE_ARRAY", p.names[cols[k]]))
					}
					texts[i].cr, texts[i].maxDef = br, cr.Descriptor().MaxDefinitionLevel()
				}
				line := p.rgStart[rg]
				// batch fills b with the next n rows: rec's columns (nil
				// without other columns) and the text columns.
				batch := func(rec arrow.RecordBatch, n int) error {
					b.reset(len(cols))
					b.n = n
					for i := 0; i < n; i++ {
						b.line = append(b.line, line+int64(i)+1)
					}
					line += int64(n)
					for i, k := range otherK {
						if err := arrowToRaw(&b.cols[k], rec.Column(i)); err != nil {
							return &InputError{File: p.display, Column: p.names[cols[k]], Msg: err.Error()}
						}
					}
					for i, k := range textK {
						if err := texts[i].read(&b.cols[k], n); err != nil {
							return &InputError{File: p.display, Column: p.names[cols[k]], Msg: fmt.Sprintf("reading row group %d", rg), Err: err}
						}
					}
					return emit(w, &b)
				}
				if len(other) == 0 {
					for left := int(rgr.NumRows()); left > 0; left -= batchRows {
						if err := batch(nil, min(left, batchRows)); err != nil {
							return err
						}
					}
					continue
				}
				rr, err := fr.GetRecordReader(ctx, other, []int{rg})
				if err != nil {
					return rgErr(err)
				}
				for rr.Next() {
					rec := rr.RecordBatch()
					if err := batch(rec, int(rec.NumRows())); err != nil {
						rr.Release()
						return err
					}
				}
				err = rr.Err()
				rr.Release()
				if err != nil {
					return rgErr(err)
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// arrowToRaw copies one Arrow column into a raw column.
func arrowToRaw(c *rawCol, a arrow.Array) error {
	n := a.Len()
	nulls := func() {
		c.null = c.null[:0]
		if a.NullN() == 0 {
			c.null = append(c.null, make([]bool, n)...)
			return
		}
		for i := 0; i < n; i++ {
			c.null = append(c.null, a.IsNull(i))
		}
	}
	switch x := a.(type) {
	case *array.String:
		c.reset(rawText)
		if offs := x.ValueOffsets(); x.NullN() == 0 && len(offs) == n+1 {
			// no nulls: the bytes and the offsets in one copy each
			c.buf = append(c.buf, x.ValueBytes()...)
			base := offs[0]
			for _, o := range offs[1:] {
				c.end = append(c.end, o-base)
			}
			break
		}
		for i := 0; i < n; i++ {
			if x.IsNull(i) {
				c.appendText(nil)
			} else {
				c.buf = append(c.buf, x.Value(i)...)
				c.end = append(c.end, int32(len(c.buf)))
			}
		}
	case *array.LargeString:
		c.reset(rawText)
		for i := 0; i < n; i++ {
			c.buf = append(c.buf, x.Value(i)...)
			c.end = append(c.end, int32(len(c.buf)))
		}
	case *array.Binary:
		c.reset(rawText)
		for i := 0; i < n; i++ {
			c.appendText(x.Value(i))
		}
	case *array.Float64:
		c.reset(rawFloat)
		c.f = append(c.f, x.Float64Values()...)
		nulls()
	case *array.Float32:
		c.reset(rawFloat)
		for _, v := range x.Float32Values() {
			c.f = append(c.f, float64(v))
		}
		nulls()
	case *array.Int64:
		c.reset(rawInt)
		c.i = append(c.i, x.Int64Values()...)
		nulls()
	case *array.Int32:
		c.reset(rawInt)
		for _, v := range x.Int32Values() {
			c.i = append(c.i, int64(v))
		}
		nulls()
	case *array.Int16, *array.Int8, *array.Uint8, *array.Uint16, *array.Uint32, *array.Uint64:
		c.reset(rawInt)
		for i := 0; i < n; i++ {
			v, _ := strconv.ParseInt(x.ValueStr(i), 10, 64)
			c.i = append(c.i, v)
		}
		nulls()
	case *array.Boolean:
		c.reset(rawBool)
		for i := 0; i < n; i++ {
			c.i = append(c.i, b2i(x.Value(i)))
		}
		nulls()
	case *array.Timestamp:
		c.reset(rawTime)
		unit := x.DataType().(*arrow.TimestampType).Unit
		for _, v := range x.TimestampValues() {
			c.i = append(c.i, unitToMicros(int64(v), unit))
		}
		nulls()
	case *array.Date32:
		c.reset(rawTime)
		for _, v := range x.Date32Values() {
			c.i = append(c.i, int64(v)*86400e6)
		}
		nulls()
	case *array.Date64:
		c.reset(rawTime)
		for _, v := range x.Date64Values() {
			c.i = append(c.i, int64(v)*1000)
		}
		nulls()
	case *array.Dictionary:
		c.reset(rawText)
		if d, ok := x.Dictionary().(*array.String); ok {
			for i := 0; i < n; i++ {
				if x.IsNull(i) {
					c.end = append(c.end, int32(len(c.buf)))
				} else {
					c.buf = append(c.buf, d.Value(x.GetValueIndex(i))...)
					c.end = append(c.end, int32(len(c.buf)))
				}
			}
			break
		}
		for i := 0; i < n; i++ {
			if x.IsNull(i) {
				c.appendText(nil)
			} else {
				c.appendText([]byte(x.ValueStr(i)))
			}
		}
	default:
		if a.DataType().ID() == arrow.DECIMAL128 || a.DataType().ID() == arrow.DECIMAL256 {
			c.reset(rawFloat)
			for i := 0; i < n; i++ {
				f, _ := strconv.ParseFloat(a.ValueStr(i), 64)
				c.f = append(c.f, f)
			}
			nulls()
			return nil
		}
		return fmt.Errorf("unsupported Parquet column type %s", a.DataType())
	}
	return nil
}

func unitToMicros(v int64, u arrow.TimeUnit) int64 {
	switch u {
	case arrow.Second:
		return v * 1e6
	case arrow.Millisecond:
		return v * 1e3
	case arrow.Nanosecond:
		return v / 1e3
	}
	return v
}
