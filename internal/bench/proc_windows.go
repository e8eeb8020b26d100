package bench

import "os/exec"

// ownGroup does nothing on Windows: the benchmark is run on Linux.
func ownGroup(*exec.Cmd) {}

// signalGroup ends the process (Windows has no SIGTERM to send).
func signalGroup(p *Proc, _ bool) { _ = p.cmd.Process.Kill() }
