// Package sample owns the real data bundled into the retain binary: the
// CDNOW 1/10 sample (2,357 customers, 6,919 purchases, 1997–1998; provenance
// in cdnow/README.md) with a ready-to-use config, so `retain demo --dataset
// cdnow` runs on real data on any fresh clone without ../shared.
//
// Rules: the embedded files are unmodified copies with their provenance;
// WriteCDNOW only writes files (atomically) and never reads anything outside
// the binary.
package sample

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

//go:embed cdnow/CDNOW_sample.txt cdnow/retain.yaml cdnow/README.md
var files embed.FS

// CDNOW file names inside the folder WriteCDNOW writes.
const (
	CDNOWData   = "CDNOW_sample.txt"
	CDNOWConfig = "retain.yaml"
	CDNOWReadme = "README.md"
)

// CDNOWCustomers and CDNOWRows describe the bundled sample.
const (
	CDNOWCustomers = 2357
	CDNOWRows      = 6919
)

// WriteCDNOW writes the CDNOW sample, its README and its config (data_dir
// ./data, path relative to the config) into dir and returns the config's
// path. Files already there with the same content are left untouched, so
// their modification times (and so extract's change detection) stay put.
func WriteCDNOW(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("sample: creating %s: %w", dir, err)
	}
	for _, name := range []string{CDNOWData, CDNOWReadme, CDNOWConfig} {
		data, err := fs.ReadFile(files, "cdnow/"+name)
		if err != nil {
			return "", fmt.Errorf("sample: embedded %s: %w", name, err)
		}
		if err := writeIfChanged(filepath.Join(dir, name), data); err != nil {
			return "", err
		}
	}
	return filepath.Join(dir, CDNOWConfig), nil
}

// CDNOWFile returns the content of one embedded CDNOW file (CDNOWData,
// CDNOWConfig or CDNOWReadme).
func CDNOWFile(name string) ([]byte, error) {
	b, err := fs.ReadFile(files, "cdnow/"+name)
	if err != nil {
		return nil, fmt.Errorf("sample: %w", err)
	}
	return b, nil
}

func writeIfChanged(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".partial")
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("sample: writing %s: %w", path, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("sample: writing %s: %w", path, err)
	}
	return nil
}
