package main

import (
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReapChildrenCollectsExitedChildren: every child that has exited is collected, in
// one call, and a call with nothing to collect returns at once.
func TestReapChildrenCollectsExitedChildren(t *testing.T) {
	if got := reapChildren(); len(got) != 0 {
		t.Fatalf("reapChildren with no exited child = %v, want none", got)
	}
	var want []int
	for range 3 {
		pid, err := syscall.ForkExec("/bin/true", []string{"true"}, &syscall.ProcAttr{})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, pid)
	}
	var got []int
	for deadline := time.Now().Add(10 * time.Second); len(got) < len(want) && time.Now().Before(deadline); {
		got = append(got, reapChildren()...)
		time.Sleep(20 * time.Millisecond)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("reaped %v, want %v", got, want)
	}
}

// buildPause builds the command the way `make images-base` does and checks that it is
// static, as the image has no loader or libc.
func buildPause(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "pause")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("pause is dynamically linked; the image has no loader")
		}
	}
	return out
}

// startAsPID1 runs pause as PID 1 of a new PID namespace, as in a pod sandbox, and
// returns once it has reaped an orphan: then its handlers are in place (a signal that
// arrived earlier would meet the Go runtime's default and end it with status 2).
func startAsPID1(t *testing.T, bin string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start pause in a new PID namespace (needs root): %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	reapsAnOrphan(t, cmd.Process.Pid)
	return cmd
}

// reapsAnOrphan orphans a process in the PID namespace of pause (pid): the process is
// reparented to pause, and once it exits pause reaps it, so no zombie lingers.
func reapsAnOrphan(t *testing.T, pid int) {
	t.Helper()
	// The shell starts sleep in the background and exits, orphaning it.
	enter := exec.Command("nsenter", "--target", strconv.Itoa(pid), "--pid", "--", "/bin/sh", "-c", "sleep 1 </dev/null >/dev/null 2>&1 & exit 0")
	if b, err := enter.CombinedOutput(); err != nil {
		t.Fatalf("nsenter: %v\n%s", err, b)
	}
	var orphan int
	waitFor(t, "the orphaned sleep to be reparented to pause", func() bool {
		orphan = childNamed(pid, "sleep")
		return orphan != 0
	})
	waitFor(t, "pause to reap the orphaned sleep after it exits", func() bool {
		_, err := os.Stat(filepath.Join("/proc", strconv.Itoa(orphan)))
		return errors.Is(err, os.ErrNotExist)
	})
}

// TestPauseExitsZeroOnSignal: SIGTERM (the kubelet stopping the sandbox) and SIGINT end
// pause with status 0.
func TestPauseExitsZeroOnSignal(t *testing.T) {
	bin := buildPause(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := startAsPID1(t, bin)
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("pause ended with %v on %v, want exit status 0", err, sig)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("pause still running 10s after %v", sig)
			}
		})
	}
}

// TestPauseReapsOrphans: processes orphaned in the pod's PID namespace, one after the
// other, never linger as zombies.
func TestPauseReapsOrphans(t *testing.T) {
	cmd := startAsPID1(t, buildPause(t)) // reaps the first
	reapsAnOrphan(t, cmd.Process.Pid)
	reapsAnOrphan(t, cmd.Process.Pid)
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// procStatus reads the fields of /proc/PID/status.
func procStatus(pid int) map[string]string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return nil
	}
	fields := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			fields[k] = strings.TrimSpace(v)
		}
	}
	return fields
}

// childNamed is the process ID of a child of parent with the given name, 0 if none.
func childNamed(parent int, name string) int {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		s := procStatus(pid)
		if s["PPid"] == strconv.Itoa(parent) && s["Name"] == name {
			return pid
		}
	}
	return 0
}
