//go:build !(linux && (amd64 || arm64))

package features

import "os"

// startWriteback is a no-op where sync_file_range does not exist.
func startWriteback(w any, off, n int64) {}

// setDirect reports false: no O_DIRECT here.
func setDirect(f *os.File) bool { return false }

// clearDirect is never needed here.
func clearDirect(f *os.File) bool { return false }
