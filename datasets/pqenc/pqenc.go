// Package pqenc holds the Parquet encoding primitives shared by retain's
// own Parquet writers (snapshot shards in datasets, the features file in
// features): the RLE/bit-packed hybrid encoding of dictionary indices and
// definition levels. It knows nothing of files, pages or schemas.
package pqenc

import "encoding/binary"

// AppendHybrid appends vals in the RLE/bit-packed hybrid encoding of
// width-bit values (without the 4-byte length prefix that data pages put in
// front of definition levels): repeats of 8 or more values become RLE runs
// (the indices of a sorted customer_id are such runs), the rest bit-packed
// runs of whole groups of 8 (the last one padded with zeros).
func AppendHybrid(body []byte, vals []int32, width int) []byte {
	byteW := (width + 7) / 8
	n := len(vals)
	for i := 0; i < n; {
		v := vals[i]
		j := i + 1
		for j < n && vals[j] == v {
			j++
		}
		if j-i >= 8 {
			body = binary.AppendUvarint(body, uint64(j-i)<<1)
			for b := 0; b < byteW; b++ {
				body = append(body, byte(uint32(v)>>(8*b)))
			}
			i = j
			continue
		}
		// literal groups of 8 until one starts a run of 8
		p := i + 8
		for p+8 <= n {
			q := p + 1
			for q < p+8 && vals[q] == vals[p] {
				q++
			}
			if q == p+8 {
				break
			}
			p += 8
		}
		p = min(p, n)
		body = AppendBitPacked(body, vals[i:p], width)
		i = p
	}
	return body
}

// AppendBitPacked appends vals as one bit-packed run of width-bit values
// (LSB first), padded with zeros to whole groups of 8 values.
func AppendBitPacked(body []byte, vals []int32, width int) []byte {
	groups := (len(vals) + 7) / 8
	body = binary.AppendUvarint(body, uint64(groups)<<1|1)
	var acc uint64
	nb := 0
	for _, v := range vals {
		acc |= uint64(uint32(v)) << nb
		nb += width
		for nb >= 8 {
			body = append(body, byte(acc))
			acc >>= 8
			nb -= 8
		}
	}
	// whole groups: (groups*8 - len(vals)) zero values of width bits
	nb += (groups*8 - len(vals)) * width
	for nb >= 8 {
		body = append(body, byte(acc))
		acc >>= 8
		nb -= 8
	}
	if nb > 0 {
		body = append(body, byte(acc))
	}
	return body
}
