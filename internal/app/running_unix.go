//go:build !windows

package app

import (
	"errors"
	"syscall"
)

// running reports whether a process with this pid exists (kill(2) with
// signal 0 checks without sending one).
func running(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
