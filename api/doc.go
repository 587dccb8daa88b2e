// Package api owns the HTTP API the CRM pulls from: the risk list with keyset
// cursors, customer detail, runs, queue claims with leases, acknowledgements
// and outcomes, health, metrics and bearer-token authentication.
package api
