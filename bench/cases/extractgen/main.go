// Command extractgen writes a synthetic order-line data set for the extract
// benchmark (bench/cases/extract.sh): CSV and Parquet with the same rows.
// It is a stand-in for `retain generate` with simple, deterministic data:
// customers draw order counts, orders draw dates, products and amounts.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

func main() {
	rows := flag.Int("rows", 20_000_000, "order rows")
	customers := flag.Int("customers", 1_000_000, "customers")
	seed := flag.Uint64("seed", 1, "random seed")
	csvOut := flag.String("csv", "", "CSV file to write")
	pqOut := flag.String("parquet", "", "Parquet file to write")
	sorted := flag.Bool("sorted", false, "write the rows sorted by (customer_id, ordered_at), as a sorted export would be (ids zero-padded so byte order is numeric order)")
	flag.Parse()
	rng := rand.New(rand.NewPCG(*seed, 7))
	start := time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	span := int64(3 * 365 * 86400)
	var cw *bufio.Writer
	var cf *os.File
	if *csvOut != "" {
		var err error
		if cf, err = os.Create(*csvOut); err != nil {
			log.Fatal(err)
		}
		cw = bufio.NewWriterSize(cf, 1<<20)
		cw.WriteString("order_id,customer_id,ordered_at,quantity,unit_price,product,channel\n")
	}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "order_id", Type: arrow.BinaryTypes.String},
		{Name: "customer_id", Type: arrow.BinaryTypes.String},
		{Name: "ordered_at", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
		{Name: "quantity", Type: arrow.PrimitiveTypes.Int64},
		{Name: "unit_price", Type: arrow.PrimitiveTypes.Float64},
		{Name: "product", Type: arrow.BinaryTypes.String},
		{Name: "channel", Type: arrow.BinaryTypes.String},
	}, nil)
	var pw *pqarrow.FileWriter
	var pf *os.File
	if *pqOut != "" {
		var err error
		if pf, err = os.Create(*pqOut); err != nil {
			log.Fatal(err)
		}
		props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Zstd), parquet.WithCompressionLevel(1), parquet.WithMaxRowGroupLength(1<<20))
		if pw, err = pqarrow.NewFileWriter(schema, pf, props, pqarrow.DefaultWriterProps()); err != nil {
			log.Fatal(err)
		}
	}
	bld := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	channels := []string{"web", "store", "app"}
	var line []byte
	for i := 0; i < *rows; i++ {
		c := rng.IntN(*customers)
		t := start + rng.Int64N(span)
		cid := "c" + strconv.Itoa(c)
		if *sorted {
			// customer i*customers/rows, times rising within a customer
			c = int(int64(i) * int64(*customers) / int64(*rows))
			first := (int64(c)*int64(*rows) + int64(*customers) - 1) / int64(*customers)
			t = start + (int64(i)-first)*86400 + rng.Int64N(86400)
			cid = fmt.Sprintf("c%07d", c)
		}
		q := 1 + rng.IntN(5)
		price := float64(rng.IntN(5000)) / 100
		oid := "o" + strconv.Itoa(i)
		prod := "p" + strconv.Itoa(rng.IntN(4000))
		ch := channels[rng.IntN(3)]
		if cw != nil {
			line = line[:0]
			line = append(line, oid...)
			line = append(line, ',')
			line = append(line, cid...)
			line = append(line, ',')
			line = time.Unix(t, 0).UTC().AppendFormat(line, "2006-01-02 15:04:05")
			line = append(line, ',')
			line = strconv.AppendInt(line, int64(q), 10)
			line = append(line, ',')
			line = strconv.AppendFloat(line, price, 'f', 2, 64)
			line = append(line, ',')
			line = append(line, prod...)
			line = append(line, ',')
			line = append(line, ch...)
			line = append(line, '\n')
			cw.Write(line)
		}
		if pw != nil {
			bld.Field(0).(*array.StringBuilder).Append(oid)
			bld.Field(1).(*array.StringBuilder).Append(cid)
			bld.Field(2).(*array.TimestampBuilder).Append(arrow.Timestamp(t * 1e6))
			bld.Field(3).(*array.Int64Builder).Append(int64(q))
			bld.Field(4).(*array.Float64Builder).Append(price)
			bld.Field(5).(*array.StringBuilder).Append(prod)
			bld.Field(6).(*array.StringBuilder).Append(ch)
			if bld.Field(0).Len() == 1<<20 {
				rec := bld.NewRecordBatch()
				if err := pw.Write(rec); err != nil {
					log.Fatal(err)
				}
				rec.Release()
			}
		}
	}
	if cw != nil {
		if err := cw.Flush(); err != nil {
			log.Fatal(err)
		}
		cf.Close()
	}
	if pw != nil {
		if bld.Field(0).Len() > 0 {
			rec := bld.NewRecordBatch()
			if err := pw.Write(rec); err != nil {
				log.Fatal(err)
			}
			rec.Release()
		}
		if err := pw.Close(); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Fprintf(os.Stderr, "extractgen: %d rows, %d customers\n", *rows, *customers)
}
