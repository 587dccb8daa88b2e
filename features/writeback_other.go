//go:build !(linux && (amd64 || arm64))

package features

// startWriteback is a no-op where sync_file_range does not exist.
func startWriteback(w any, off, n int64) {}
