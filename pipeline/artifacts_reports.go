package pipeline

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
)

// reportsIndex is the file of a run's reports folder uploaded last: a reader
// of the store that finds it finds every other report file of the run.
const reportsIndex = "index.html"

// PushReports copies the reports folder dir of run runID (written by `retain
// report` or at the end of a run) to the store as reports/<run-id>/…, so the
// reports of a run finished on a worker with a scratch data_dir are kept
// with the runs. Files are uploaded in walk order, index.html last. Nothing
// to do unless schedule.artifacts is a store URL. It returns where the
// reports went ("" without a store).
func PushReports(ctx context.Context, cfg *Config, runID, dir string) (string, error) {
	arts, err := OpenArtifacts(ctx, cfg)
	if err != nil {
		return "", err
	}
	defer arts.Close()
	if arts.Store == nil {
		return "", nil
	}
	prefix := path.Join("reports", runID)
	var last string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if rel == reportsIndex {
			last = p
			return nil
		}
		return arts.putFile(ctx, path.Join(prefix, filepath.ToSlash(rel)), p)
	})
	if err == nil && last != "" {
		err = arts.putFile(ctx, path.Join(prefix, reportsIndex), last)
	}
	if err != nil {
		return "", fmt.Errorf("uploading the reports of run %s to %s: %w", runID, arts.Store, err)
	}
	return arts.Store.String() + "/" + prefix, nil
}
