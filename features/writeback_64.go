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

// setDirect turns on O_DIRECT for f (writes bypass the page cache: no
// page-cache pages to allocate, fill and later write back and free) and
// reports whether it is on. Filesystems without O_DIRECT refuse it.
func setDirect(f *os.File) bool {
	fl, _, e := syscall.Syscall(syscall.SYS_FCNTL, f.Fd(), syscall.F_GETFL, 0)
	if e != 0 {
		return false
	}
	_, _, e = syscall.Syscall(syscall.SYS_FCNTL, f.Fd(), syscall.F_SETFL, fl|syscall.O_DIRECT)
	return e == 0
}

// clearDirect turns O_DIRECT off again (a write the device refused).
func clearDirect(f *os.File) bool {
	fl, _, e := syscall.Syscall(syscall.SYS_FCNTL, f.Fd(), syscall.F_GETFL, 0)
	if e != 0 {
		return false
	}
	_, _, e = syscall.Syscall(syscall.SYS_FCNTL, f.Fd(), syscall.F_SETFL, fl&^syscall.O_DIRECT)
	return e == 0
}
