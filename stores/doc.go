// Package stores owns the downstream stores: the risk list (risk_current and
// risk_history) and the intervention queue, in Parquet/CSV files, SQLite (the
// embedded default) and Postgres. Publishing is atomic: readers see the
// previous complete list or the new one, never a mix.
package stores
