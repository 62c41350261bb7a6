package bench

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Peak RSS of a child, measured without the parent's memory leaking in.
//
// The rusage Maxrss that wait4 reports for a child is not the child's
// alone: Go starts children with vfork (CLONE_VM|CLONE_VFORK), so at exec
// the kernel records the parent's high-water mark as the child's starting
// Maxrss. A child smaller than this process therefore reports this
// process's peak (a 300 MiB parent sees Maxrss 300 MiB for /bin/true).
// After exec the child has a fresh address space, so its own VmHWM in
// /proc/PID/status is clean. So:
//
//   - the Syndicate child reports its own VmHWM at exit (exact);
//   - for rclone, Maxrss is exact when it exceeds this process's VmHWM at
//     the start (it is then the child's own); otherwise the last VmHWM
//     read by polling every 10 ms stands (a lower bound, short by at most
//     what the child grew in its last 10 ms).

// hwm reads VmHWM, in bytes, from a /proc/PID/status file; 0 if unknown.
func hwm(statusFile string) int64 {
	b, err := os.ReadFile(statusFile)
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmHWM:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) == 0 {
			return 0
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0
		}
		return kb << 10
	}
	return 0
}

// SelfPeakRSS is this process's peak resident set in bytes (Linux; 0
// elsewhere).
func SelfPeakRSS() int64 { return hwm("/proc/self/status") }

// timed runs cmd and returns its wall time and peak RSS.
func timed(cmd *exec.Cmd) (Sample, error) {
	floor := SelfPeakRSS()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Sample{}, err
	}
	var (
		mu     sync.Mutex
		polled int64
		done   = make(chan struct{})
		exited = make(chan struct{})
	)
	go func() {
		defer close(exited)
		status := "/proc/" + strconv.Itoa(cmd.Process.Pid) + "/status"
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			if v := hwm(status); v > 0 {
				mu.Lock()
				polled = max(polled, v)
				mu.Unlock()
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	err := cmd.Wait()
	smp := Sample{Wall: time.Since(start)}
	close(done)
	<-exited
	smp.MaxRSS = polled
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		if maxrss := int64(ru.Maxrss) << 10; maxrss > floor { // kilobytes on Linux
			smp.MaxRSS = maxrss
		}
	}
	return smp, err
}
