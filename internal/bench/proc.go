package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Proc is a server the benchmark started: the sandbox, the bare server or
// Prism, each in its own process so its CPU and peak memory are its own.
type Proc struct {
	Name    string
	Addr    string // 127.0.0.1:port
	cmd     *exec.Cmd
	logFile *os.File
	exited  chan struct{}
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startProc runs name args... with its output in logPath, in its own
// process group (so stopping it stops what it started, e.g. node under npx).
func startProc(name, logPath string, argv []string, env []string) (*Proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	ownGroup(cmd)
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	p := &Proc{Name: name, cmd: cmd, logFile: f, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(p.exited) }()
	return p, nil
}

// Pid is the process id.
// Pid is the process's id; 0 for a sandbox started elsewhere.
func (p *Proc) Pid() int {
	if !p.local() {
		return 0
	}
	return p.cmd.Process.Pid
}

// local tells whether the process runs here (not a sandbox started
// elsewhere): only then are its memory and CPU seen.
func (p *Proc) local() bool { return p != nil && p.cmd != nil }

// waitHTTP polls url until it answers want (or the process exits, or the
// timeout passes) and returns how long that took from since.
func (p *Proc) waitHTTP(ctx context.Context, url string, header http.Header, want int, since time.Time, timeout time.Duration) (time.Duration, error) {
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := since.Add(timeout)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		for k, vs := range header {
			req.Header[k] = vs
		}
		if resp, err := hc.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == want {
				return time.Since(since), nil
			}
		}
		select {
		case <-p.exited:
			return 0, fmt.Errorf("%s exited before answering (see %s)", p.Name, p.logFile.Name())
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s did not answer %d within %s (see %s)", p.Name, want, timeout, p.logFile.Name())
		}
	}
}

// Stop ends the process group: SIGTERM (the sandbox finishes in-flight
// requests and closes its database), then SIGKILL after 15 s.
func (p *Proc) Stop() error {
	if !p.local() || p.cmd.Process == nil {
		return nil
	}
	defer p.logFile.Close()
	select {
	case <-p.exited:
		return nil
	default:
	}
	signalGroup(p, false)
	select {
	case <-p.exited:
		return nil
	case <-time.After(15 * time.Second):
		signalGroup(p, true)
		<-p.exited
		return fmt.Errorf("%s did not stop within 15 s of SIGTERM; killed", p.Name)
	}
}

// tree is the process and its descendants (from /proc).
func tree(pid int) []int {
	children := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 2 {
			if pp, err := strconv.Atoi(f[1]); err == nil {
				children[pp] = append(children[pp], c)
			}
		}
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// PeakRSS is the sum of VmHWM (peak resident set) over the process tree, in
// bytes.
func (p *Proc) PeakRSS() int64 {
	var sum int64
	if !p.local() {
		return 0
	}
	for _, pid := range tree(p.Pid()) {
		sum += statusKB(pid, "VmHWM:") * 1024
	}
	return sum
}

// RSS is the current resident set of the tree, in bytes.
func (p *Proc) RSS() int64 {
	var sum int64
	if !p.local() {
		return 0
	}
	for _, pid := range tree(p.Pid()) {
		sum += statusKB(pid, "VmRSS:") * 1024
	}
	return sum
}

func statusKB(pid int, key string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// clockTicks is USER_HZ: /proc's unit of CPU time (100 on Linux).
const clockTicks = 100

// CPU is the user+system CPU time the tree has used.
func (p *Proc) CPU() time.Duration {
	var ticks int64
	if !p.local() {
		return 0
	}
	for _, pid := range tree(p.Pid()) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 12 {
			u, _ := strconv.ParseInt(f[11], 10, 64)
			s, _ := strconv.ParseInt(f[12], 10, 64)
			ticks += u + s
		}
	}
	return time.Duration(ticks) * time.Second / clockTicks
}

// lookPath finds a program, or says how to get it.
func lookPath(name, hint string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", errors.New(name + " not found: " + hint)
	}
	return p, nil
}

// machineCPU reads /proc/stat's first line: busy and all CPU time of the
// whole machine (every process, the kernel, the hypervisor's steal).
func machineCPU() (busy, all time.Duration) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, 0
	}
	var ticks [10]int64
	for i := 1; i < len(f) && i <= 10; i++ {
		ticks[i-1], _ = strconv.ParseInt(f[i], 10, 64)
	}
	// user nice system idle iowait irq softirq steal guest guest_nice;
	// guest time is already counted in user.
	var total int64
	for _, t := range ticks[:8] {
		total += t
	}
	idle := ticks[3] + ticks[4]
	return time.Duration(total-idle) * time.Second / clockTicks, time.Duration(total) * time.Second / clockTicks
}
