//go:build linux && (amd64 || arm64)

package features

import (
	"os"
	"syscall"
)

// startWriteback asks the kernel to start writing the file's dirty pages
// in [off, off+n) to disk now (sync_file_range, SYNC_FILE_RANGE_WRITE), so
// the fsync at the end of a file write finds most of them written instead
// of submitting all of them on one goroutine. Errors are ignored: the
// fsync that follows reports any failure to write.
func startWriteback(w any, off, n int64) {
	f, ok := w.(*os.File)
	if !ok {
		return
	}
	const syncFileRangeWrite = 2
	syscall.Syscall6(syscall.SYS_SYNC_FILE_RANGE, f.Fd(), uintptr(off), uintptr(n), syncFileRangeWrite, 0, 0)
}
