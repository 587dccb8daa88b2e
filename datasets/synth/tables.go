package synth

import (
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/retainlab/retain/datasets"
)

// column describes one output column of a row type R: its name, kind and
// how to read it from a row. Exactly one accessor matches the kind; Time
// values are unix seconds. A false second result means null.
type column[R any] struct {
	name     string
	kind     datasets.Kind
	required bool
	str      func(dst []byte, r *R) ([]byte, bool)
	num      func(r *R) (float64, bool)
	int      func(r *R) (int64, bool)
	bool     func(r *R) (bool, bool)
}

// table is a type-erased output table: its file name, schema, and how to
// encode the rows of a chunk.
type table struct {
	name   datasets.Table // canonical table, or "truth"
	schema *arrow.Schema
	header []byte
	encode func(ch *chunk, format string, mem memory.Allocator) part
	rows   func(ch *chunk) int
}

// part is one chunk of one table, encoded.
type part struct {
	csv  []byte
	rec  arrow.RecordBatch
	rows int
}

func newTable[R any](name datasets.Table, cols []column[R], rows func(ch *chunk) []R) table {
	fields := make([]arrow.Field, len(cols))
	header := []byte{}
	for i, c := range cols {
		fields[i] = arrow.Field{Name: c.name, Type: c.kind.ArrowType(), Nullable: !c.required}
		if i > 0 {
			header = append(header, ',')
		}
		header = append(header, c.name...)
	}
	header = append(header, '\n')
	schema := arrow.NewSchema(fields, nil)
	return table{
		name:   name,
		schema: schema,
		header: header,
		rows:   func(ch *chunk) int { return len(rows(ch)) },
		encode: func(ch *chunk, format string, mem memory.Allocator) part {
			rs := rows(ch)
			if format == "parquet" {
				return part{rec: encodeArrow(cols, schema, rs, mem), rows: len(rs)}
			}
			return part{csv: encodeCSV(cols, rs), rows: len(rs)}
		},
	}
}

// encodeCSV writes rows as CSV lines (no quoting is needed: no generated
// value contains a comma, quote or newline). Times are "2006-01-02 15:04:05" UTC.
func encodeCSV[R any](cols []column[R], rows []R) []byte {
	dst := make([]byte, 0, len(rows)*16*len(cols))
	for i := range rows {
		r := &rows[i]
		for j := range cols {
			if j > 0 {
				dst = append(dst, ',')
			}
			c := &cols[j]
			switch c.kind {
			case datasets.String:
				dst, _ = c.str(dst, r)
			case datasets.Float:
				if v, ok := c.num(r); ok {
					dst = strconv.AppendFloat(dst, v, 'f', -1, 64)
				}
			case datasets.Int:
				if v, ok := c.int(r); ok {
					dst = strconv.AppendInt(dst, v, 10)
				}
			case datasets.Time:
				if v, ok := c.int(r); ok {
					dst = appendTime(dst, v)
				}
			case datasets.Bool:
				if v, ok := c.bool(r); ok {
					dst = strconv.AppendBool(dst, v)
				}
			}
		}
		dst = append(dst, '\n')
	}
	return dst
}

// encodeArrow builds one record batch, column by column.
func encodeArrow[R any](cols []column[R], schema *arrow.Schema, rows []R, mem memory.Allocator) arrow.RecordBatch {
	arrs := make([]arrow.Array, len(cols))
	var buf []byte
	for j := range cols {
		c := &cols[j]
		switch c.kind {
		case datasets.String:
			b := array.NewStringBuilder(mem)
			b.Reserve(len(rows))
			for i := range rows {
				var ok bool
				buf, ok = c.str(buf[:0], &rows[i])
				if ok {
					b.BinaryBuilder.Append(buf)
				} else {
					b.AppendNull()
				}
			}
			arrs[j] = b.NewArray()
			b.Release()
		case datasets.Float:
			b := array.NewFloat64Builder(mem)
			b.Reserve(len(rows))
			for i := range rows {
				if v, ok := c.num(&rows[i]); ok {
					b.UnsafeAppend(v)
				} else {
					b.UnsafeAppendBoolToBitmap(false)
				}
			}
			arrs[j] = b.NewArray()
			b.Release()
		case datasets.Int:
			b := array.NewInt64Builder(mem)
			b.Reserve(len(rows))
			for i := range rows {
				if v, ok := c.int(&rows[i]); ok {
					b.UnsafeAppend(v)
				} else {
					b.UnsafeAppendBoolToBitmap(false)
				}
			}
			arrs[j] = b.NewArray()
			b.Release()
		case datasets.Time:
			b := array.NewTimestampBuilder(mem, c.kind.ArrowType().(*arrow.TimestampType))
			b.Reserve(len(rows))
			for i := range rows {
				if v, ok := c.int(&rows[i]); ok {
					b.UnsafeAppend(arrow.Timestamp(v * 1_000_000))
				} else {
					b.UnsafeAppendBoolToBitmap(false)
				}
			}
			arrs[j] = b.NewArray()
			b.Release()
		case datasets.Bool:
			b := array.NewBooleanBuilder(mem)
			b.Reserve(len(rows))
			for i := range rows {
				if v, ok := c.bool(&rows[i]); ok {
					b.UnsafeAppend(v)
				} else {
					b.UnsafeAppendBoolToBitmap(false)
				}
			}
			arrs[j] = b.NewArray()
			b.Release()
		}
	}
	rec := array.NewRecordBatch(schema, arrs, int64(len(rows)))
	for _, a := range arrs {
		a.Release()
	}
	return rec
}

// appendTime appends unix seconds as "2006-01-02 15:04:05" (UTC) without
// going through time.Time (civil-from-days, Hinnant's algorithm).
func appendTime(dst []byte, sec int64) []byte {
	days := sec / 86400
	rem := sec % 86400
	if rem < 0 {
		rem += 86400
		days--
	}
	z := days + 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era = (z - 146096) / 146097
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	dst = append4(dst, y)
	dst = append(dst, '-')
	dst = append2(dst, m)
	dst = append(dst, '-')
	dst = append2(dst, d)
	dst = append(dst, ' ')
	dst = append2(dst, rem/3600)
	dst = append(dst, ':')
	dst = append2(dst, rem/60%60)
	dst = append(dst, ':')
	return append2(dst, rem%60)
}

func append2(dst []byte, v int64) []byte { return append(dst, byte('0'+v/10), byte('0'+v%10)) }
func append4(dst []byte, v int64) []byte {
	return append(dst, byte('0'+v/1000), byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10))
}

// appendID appends prefix + the zero-padded 8-digit number n (1-based ids
// sort in customer order as bytes).
func appendID(dst []byte, prefix byte, n int64) []byte {
	dst = append(dst, prefix)
	var d [8]byte
	for i := 7; i >= 0; i-- {
		d[i] = byte('0' + n%10)
		n /= 10
	}
	return append(dst, d[:]...)
}

// appendSeq appends "-" and a sequence number padded to 4 digits.
func appendSeq(dst []byte, n int64) []byte { return appendPad4(append(dst, '-'), n) }

// appendPad4 appends n zero-padded to at least 4 digits.
func appendPad4(dst []byte, n int64) []byte {
	for p := int64(1000); p >= 10 && n < p; p /= 10 {
		dst = append(dst, '0')
	}
	return strconv.AppendInt(dst, n, 10)
}

func custID(dst []byte, idx int32) ([]byte, bool) { return appendID(dst, 'C', int64(idx)+1), true }

func vocab(dst []byte, words []string, i uint8) ([]byte, bool) { return append(dst, words[i]...), true }

// tables returns the output tables of cfg (canonical ones, then truth).
func tables(cfg Config) []table {
	all := map[datasets.Table]table{
		datasets.Customers: newTable(datasets.Customers, []column[customerRow]{
			{name: "customer_id", kind: datasets.String, required: true, str: func(d []byte, r *customerRow) ([]byte, bool) { return custID(d, r.idx) }},
			{name: "signed_up_at", kind: datasets.Time, int: func(r *customerRow) (int64, bool) { return r.signup, true }},
			{name: "country", kind: datasets.String, str: func(d []byte, r *customerRow) ([]byte, bool) { return vocab(d, countries, r.country) }},
			{name: "segment", kind: datasets.String, str: func(d []byte, r *customerRow) ([]byte, bool) { return vocab(d, segments, r.segment) }},
			{name: "acquisition_channel", kind: datasets.String, str: func(d []byte, r *customerRow) ([]byte, bool) { return vocab(d, acqChannels, r.acq) }},
			{name: "birth_year", kind: datasets.Int, int: func(r *customerRow) (int64, bool) { return int64(r.birthYear), r.birthYear != 0 }},
			{name: "gender", kind: datasets.String, str: func(d []byte, r *customerRow) ([]byte, bool) {
				if r.gender == 0 {
					return d, false
				}
				return vocab(d, genders, r.gender)
			}},
		}, func(ch *chunk) []customerRow { return ch.customers }),

		datasets.Orders: newTable(datasets.Orders, []column[orderRow]{
			{name: "customer_id", kind: datasets.String, required: true, str: func(d []byte, r *orderRow) ([]byte, bool) { return custID(d, r.idx) }},
			{name: "ordered_at", kind: datasets.Time, required: true, int: func(r *orderRow) (int64, bool) { return r.t, true }},
			{name: "order_id", kind: datasets.String, str: func(d []byte, r *orderRow) ([]byte, bool) {
				return appendSeq(appendID(d, 'O', int64(r.idx)+1), int64(r.seq)), true
			}},
			{name: "amount", kind: datasets.Float, required: true, num: func(r *orderRow) (float64, bool) { return r.amount, true }},
			{name: "quantity", kind: datasets.Float, num: func(r *orderRow) (float64, bool) { return float64(r.qty), true }},
			{name: "product", kind: datasets.String, str: func(d []byte, r *orderRow) ([]byte, bool) {
				return appendPad4(append(d, 'P'), int64(r.product)+1), true
			}},
			{name: "category", kind: datasets.String, str: func(d []byte, r *orderRow) ([]byte, bool) { return vocab(d, categories, r.category) }},
			{name: "channel", kind: datasets.String, str: func(d []byte, r *orderRow) ([]byte, bool) { return vocab(d, orderChannels, r.channel) }},
			{name: "discount", kind: datasets.Float, num: func(r *orderRow) (float64, bool) { return r.discount, true }},
			{name: "returned", kind: datasets.Bool, bool: func(r *orderRow) (bool, bool) { return r.returned, true }},
		}, func(ch *chunk) []orderRow { return ch.orders }),

		datasets.Events: newTable(datasets.Events, []column[eventRow]{
			{name: "customer_id", kind: datasets.String, required: true, str: func(d []byte, r *eventRow) ([]byte, bool) { return custID(d, r.idx) }},
			{name: "occurred_at", kind: datasets.Time, required: true, int: func(r *eventRow) (int64, bool) { return r.t, true }},
			{name: "event_type", kind: datasets.String, required: true, str: func(d []byte, r *eventRow) ([]byte, bool) { return vocab(d, eventTypes, r.typ) }},
			{name: "channel", kind: datasets.String, str: func(d []byte, r *eventRow) ([]byte, bool) { return vocab(d, eventChannels, r.channel) }},
		}, func(ch *chunk) []eventRow { return ch.events }),

		datasets.Subscriptions: newTable(datasets.Subscriptions, []column[subscriptionRow]{
			{name: "customer_id", kind: datasets.String, required: true, str: func(d []byte, r *subscriptionRow) ([]byte, bool) { return custID(d, r.idx) }},
			{name: "started_at", kind: datasets.Time, required: true, int: func(r *subscriptionRow) (int64, bool) { return r.start, true }},
			{name: "subscription_id", kind: datasets.String, str: func(d []byte, r *subscriptionRow) ([]byte, bool) {
				return appendSeq(appendID(d, 'S', int64(r.idx)+1), int64(r.seq)), true
			}},
			{name: "plan", kind: datasets.String, str: func(d []byte, r *subscriptionRow) ([]byte, bool) { return vocab(d, plans, r.plan) }},
			{name: "ended_at", kind: datasets.Time, int: func(r *subscriptionRow) (int64, bool) { return r.end, r.hasEnd }},
			{name: "mrr", kind: datasets.Float, num: func(r *subscriptionRow) (float64, bool) { return r.mrr, true }},
			{name: "status", kind: datasets.String, str: func(d []byte, r *subscriptionRow) ([]byte, bool) { return vocab(d, subStatuses, r.status) }},
			{name: "failed_payments", kind: datasets.Int, int: func(r *subscriptionRow) (int64, bool) { return int64(r.failed), true }},
		}, func(ch *chunk) []subscriptionRow { return ch.subscriptions }),

		datasets.Tickets: newTable(datasets.Tickets, []column[ticketRow]{
			{name: "customer_id", kind: datasets.String, required: true, str: func(d []byte, r *ticketRow) ([]byte, bool) { return custID(d, r.idx) }},
			{name: "opened_at", kind: datasets.Time, required: true, int: func(r *ticketRow) (int64, bool) { return r.opened, true }},
			{name: "ticket_id", kind: datasets.String, str: func(d []byte, r *ticketRow) ([]byte, bool) {
				return appendSeq(appendID(d, 'T', int64(r.idx)+1), int64(r.seq)), true
			}},
			{name: "closed_at", kind: datasets.Time, int: func(r *ticketRow) (int64, bool) { return r.closed, r.hasClosed }},
			{name: "status", kind: datasets.String, str: func(d []byte, r *ticketRow) ([]byte, bool) { return vocab(d, ticketStatuses, r.status) }},
			{name: "priority", kind: datasets.String, str: func(d []byte, r *ticketRow) ([]byte, bool) { return vocab(d, priorities, r.priority) }},
		}, func(ch *chunk) []ticketRow { return ch.tickets }),

		datasets.Surveys: newTable(datasets.Surveys, []column[surveyRow]{
			{name: "customer_id", kind: datasets.String, required: true, str: func(d []byte, r *surveyRow) ([]byte, bool) { return custID(d, r.idx) }},
			{name: "answered_at", kind: datasets.Time, required: true, int: func(r *surveyRow) (int64, bool) { return r.t, true }},
			{name: "nps", kind: datasets.Float, num: func(r *surveyRow) (float64, bool) { return float64(r.nps), r.nps >= 0 }},
			{name: "csat", kind: datasets.Float, num: func(r *surveyRow) (float64, bool) { return float64(r.csat), r.csat >= 0 }},
			{name: "ces", kind: datasets.Float, num: func(r *surveyRow) (float64, bool) { return float64(r.ces), r.ces >= 0 }},
		}, func(ch *chunk) []surveyRow { return ch.surveys }),
	}
	var out []table
	for _, t := range Generated {
		if cfg.has(t) {
			out = append(out, all[t])
		}
	}
	return append(out, truthTable(cfg.P))
}

// TruthTable is the name of the per-customer ground truth file (truth.csv
// or truth.parquet).
const TruthTable datasets.Table = "truth"

func truthTable(shapeP float64) table {
	return newTable(TruthTable, []column[truthRow]{
		{name: "customer_id", kind: datasets.String, required: true, str: func(d []byte, r *truthRow) ([]byte, bool) { return custID(d, r.idx) }},
		{name: "signed_up_at", kind: datasets.Time, required: true, int: func(r *truthRow) (int64, bool) { return r.signup, true }},
		{name: "lambda", kind: datasets.Float, required: true, num: func(r *truthRow) (float64, bool) { return r.lambda, true }},
		{name: "dropout_p", kind: datasets.Float, required: true, num: func(r *truthRow) (float64, bool) { return r.p, true }},
		{name: "spend_nu", kind: datasets.Float, required: true, num: func(r *truthRow) (float64, bool) { return r.nu, true }},
		{name: "mean_spend", kind: datasets.Float, required: true, num: func(r *truthRow) (float64, bool) { return shapeP / r.nu, true }},
		{name: "alive_at_end", kind: datasets.Bool, required: true, bool: func(r *truthRow) (bool, bool) { return !r.died, true }},
		{name: "churned_at", kind: datasets.Time, int: func(r *truthRow) (int64, bool) { return r.death, r.died }},
		{name: "orders", kind: datasets.Int, required: true, int: func(r *truthRow) (int64, bool) { return int64(r.orders), true }},
		{name: "last_order_at", kind: datasets.Time, required: true, int: func(r *truthRow) (int64, bool) { return r.lastOrder, true }},
		{name: "events_per_week", kind: datasets.Float, required: true, num: func(r *truthRow) (float64, bool) { return r.eventsPerWeek, true }},
		{name: "tickets_per_week", kind: datasets.Float, required: true, num: func(r *truthRow) (float64, bool) { return r.ticketsPerWeek, true }},
		{name: "member", kind: datasets.Bool, required: true, bool: func(r *truthRow) (bool, bool) { return r.member, true }},
	}, func(ch *chunk) []truthRow { return ch.truth })
}
