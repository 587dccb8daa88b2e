//go:build retain_nogcs

package blobstore

const withGCS = false
