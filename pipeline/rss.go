package pipeline

import (
	"bytes"
	"os"
	"strconv"
)

// resetPeakRSS restarts the kernel's peak resident set size count of this
// process (Linux: "5" to /proc/self/clear_refs resets VmHWM), so the peak
// read after a stage is that stage's. It reports whether that worked.
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// peakRSSMiB is the process's peak resident set size in MiB since the last
// resetPeakRSS (VmHWM in /proc/self/status), or 0 where that is unknown.
func peakRSSMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	_, rest, ok := bytes.Cut(b, []byte("VmHWM:"))
	if !ok {
		return 0
	}
	line, _, _ := bytes.Cut(rest, []byte("\n"))
	kb, err := strconv.ParseFloat(string(bytes.TrimSuffix(bytes.TrimSpace(line), []byte(" kB"))), 64)
	if err != nil {
		return 0
	}
	return kb / 1024
}
