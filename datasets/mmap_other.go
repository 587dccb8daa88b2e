//go:build !linux

package datasets

import "os"

// mapFile does not map files here: they are read into buffers.
func mapFile(f *os.File, size int64) ([]byte, bool) { return nil, false }

// unmapFile is never called here.
func unmapFile(m []byte) {}

// dropMapped is never called here.
func dropMapped(m []byte, lo, hi int) {}
