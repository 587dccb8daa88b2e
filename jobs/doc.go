// Package jobs owns schedules (nightly scoring, periodic retraining,
// backfills), the River workers and periodic jobs, and the long-running
// `retain serve` / `retain worker` processes. It drives pipeline; it holds no
// numeric or storage logic of its own.
package jobs
