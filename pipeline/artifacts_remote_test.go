package pipeline

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/retainlab/retain/datasets"
	"github.com/retainlab/retain/pipeline/blobstore"
	"github.com/retainlab/retain/pipeline/blobstore/blobtest"
)

// TestRunThroughS3AndGCS shares a night between two machines through an
// s3:// and a gs:// bucket (servers speaking those APIs over real HTTP,
// package blobtest; the real gocloud drivers, AWS SDK and Cloud Storage
// client): machine A extracts, builds features and prepares scoring;
// machine B, with an empty data_dir, works the score shards, merges and
// publishes from the bucket alone. B's risk list and scores are the local
// run's byte for byte, every stage's manifest is in the bucket under the
// URL's prefix, and a rerun on A skips every stage.
func TestRunThroughS3AndGCS(t *testing.T) {
	asOf := time.Date(2024, 12, 1, 0, 0, 0, 0, time.UTC)
	now := time.Date(2024, 12, 1, 2, 30, 0, 0, time.UTC)
	cfgPath := synthRun(t, 1500, "shards: 2\n", asOf)

	refPlan, want, wantScores := localRun(t, cfgPath, asOf, now)

	for _, tc := range []struct {
		name string
		url  func(testing.TB, string) string
	}{
		{"s3", blobtest.S3},
		{"gcs", blobtest.GCS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			u := tc.url(t, "nightly/prod")
			if _, err := blobstore.Parse(u); err != nil && strings.Contains(err.Error(), "built without") {
				t.Skip(err)
			}
			a := newMachine(t, cfgPath, "", u, now)
			b := newMachine(t, cfgPath, t.TempDir(), u, now)
			if err := a.ex.Artifacts.PushModels(ctx, ModelsDir(a.cfg)); err != nil {
				t.Fatal(err)
			}
			pa := a.plan(t, asOf)
			i := pa.StageIndex(StageScore)
			a.prepareScore(t, pa, i)

			pb := b.plan(t, asOf)
			if pb.RunID != refPlan.RunID {
				t.Fatalf("machine B plans %s, the local run %s", pb.RunID, refPlan.RunID)
			}
			for sh := 0; sh < pb.Shards; sh++ {
				if o, err := b.ex.RunPart(ctx, pb, i, sh); err != nil || o.Skipped || o.Rows == 0 {
					t.Fatalf("shard %d: %+v %v", sh, o, err)
				}
			}
			for j := i; j < len(pb.Stages); j++ {
				if _, err := b.ex.RunStage(ctx, pb, j); err != nil {
					t.Fatal(err)
				}
			}
			sameExports(t, "published by machine B", want, readExports(t, b.cfg.DataDir))
			got, _ := os.ReadFile(filepath.Join(b.ex.Artifacts.StageDir(pb.RunID, StageScore), "scores.parquet"))
			if !bytes.Equal(got, wantScores) {
				t.Errorf("scores.parquet: machine B %d bytes, local run %d; want identical", len(got), len(wantScores))
			}
			if _, err := os.Stat(datasets.SnapshotDir(b.cfg.DataDir)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("machine B has a snapshot: %v", err)
			}

			// The bucket holds every stage's manifest under the prefix.
			root, err := blobstore.Open(ctx, strings.Replace(u, "/nightly/prod", "", 1))
			if err != nil {
				t.Fatal(err)
			}
			defer root.Close()
			for _, rel := range []string{StageExtract, StageFeatures, StageScore + ".prep", StageScore + ".parts/part-00001", StageScore, StagePublish} {
				key := "nightly/prod/runs/" + pb.RunID + "/" + rel + "/" + manifestName
				if _, err := root.Size(ctx, key); err != nil {
					t.Errorf("bucket: %v", err)
				}
			}
			var inBucket bytes.Buffer
			if _, err := root.Get(ctx, "nightly/prod/runs/"+pb.RunID+"/"+StageScore+"/scores.parquet", &inBucket); err != nil || !bytes.Equal(inBucket.Bytes(), wantScores) {
				t.Errorf("scores.parquet in the bucket: %d bytes, %v; want the local run's %d", inBucket.Len(), err, len(wantScores))
			}
			a.runSkipped(t, pa, "rerun on A")
		})
	}
}
