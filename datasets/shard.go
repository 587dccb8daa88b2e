package datasets

import (
	"fmt"
	"hash/fnv"
	"path/filepath"
)

// ShardOf returns the shard of a customer: FNV-1a 64 of the id, mod shards.
// Every table of a snapshot uses it, so shard i of each table holds the same
// customers.
func ShardOf(customerID string, shards int) int {
	h := fnv.New64a()
	h.Write([]byte(customerID))
	return int(h.Sum64() % uint64(shards))
}

// SnapshotDir is where extract writes the snapshot of a data_dir.
func SnapshotDir(dataDir string) string { return filepath.Join(dataDir, "snapshot") }

// ShardPath is the Parquet file of one table's shard in a snapshot directory:
// <snapshot>/<table>/part-00003.parquet.
func ShardPath(snapshotDir string, t Table, shard int) string {
	return filepath.Join(snapshotDir, string(t), fmt.Sprintf("part-%05d.parquet", shard))
}
