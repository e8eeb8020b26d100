//go:build !unix

package store

import "os"

// lockFile only creates path where flock is not available (Windows): a
// second process on the same file is not detected there.
func lockFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}

func unlockFile(f *os.File) error { return f.Close() }
