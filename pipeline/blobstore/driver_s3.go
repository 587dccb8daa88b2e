//go:build !retain_nos3

package blobstore

import _ "gocloud.dev/blob/s3blob" // s3:// (and S3-compatible stores via endpoint=)

const withS3 = true
