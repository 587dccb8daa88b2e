package pqenc

import (
	"encoding/binary"
	"fmt"

	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// Footer returns a file's tail: md in the thrift compact encoding, its
// length (4 bytes, little endian) and the closing "PAR1".
func Footer(md *format.FileMetaData) ([]byte, error) {
	var proto thrift.CompactProtocol
	b, err := thrift.Marshal(&proto, md)
	if err != nil {
		return nil, fmt.Errorf("footer: %w", err)
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(b)))
	return append(b, "PAR1"...), nil
}

// AsString annotates a BYTE_ARRAY column's schema element as UTF-8 text.
func AsString(el *format.SchemaElement) {
	el.ConvertedType = thrift.New(deprecated.UTF8)
	el.LogicalType = format.LogicalType{Value: &format.StringType{}}
}

// AsTimestampMicros annotates an INT64 column's schema element as a UTC
// timestamp in microseconds.
func AsTimestampMicros(el *format.SchemaElement) {
	el.ConvertedType = thrift.New(deprecated.TimestampMicros)
	el.LogicalType = format.LogicalType{Value: &format.TimestampType{IsAdjustedToUTC: true, Unit: format.TimeUnit{Value: &format.MicroSeconds{}}}}
}
