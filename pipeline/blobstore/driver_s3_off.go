//go:build retain_nos3

package blobstore

const withS3 = false
