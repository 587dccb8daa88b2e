//go:build !retain_nogcs

package blobstore

import _ "gocloud.dev/blob/gcsblob" // gs://

const withGCS = true
