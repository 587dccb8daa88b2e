// Package reports (directory notebooks-exports, since a Go package name cannot
// hold a hyphen) owns the model, retention and campaign reports (self-contained
// HTML and Jupyter .ipynb with embedded plots) and the Parquet / Arrow IPC
// exports that notebooks open.
package reports
