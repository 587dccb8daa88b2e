// Package features owns the point-in-time feature engine: from a snapshot and
// an as-of time D it builds one row per eligible customer whose every value
// uses only records dated strictly before D, plus the churn label when the
// horizon after D lies inside the data. It also owns the feature registry
// (name, meaning, window, source table).
//
// Rules: one sequential pass per shard over (customer, time)-sorted rows;
// values undefined for a customer are null, never a fake zero; imports only
// datasets.
package features
