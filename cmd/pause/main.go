// Command pause is a pod's sandbox process, as Kubernetes' pause (build/pause/linux/pause.c
// in kubernetes/kubernetes): it holds the pod's namespaces, does nothing, and exits 0 on
// SIGTERM or SIGINT. As PID 1 of a pod that shares its process namespace it reaps the
// zombies that orphaned processes leave, on SIGCHLD.
//
// `make images-base` builds it statically (CGO_ENABLED=0) into the image
// registry.k8s.io/pause:3.10 for the local cluster's real node, which has no registry to
// pull the real one from (hack/baseimages).
package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "pause: warning: not PID 1, so orphaned processes are not reparented to it")
	}
	// Buffered: SIGCHLDs that arrive while a reap runs coalesce, and the next reap
	// collects every exited child anyway.
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	// Children that exited before the handler was in place sent their SIGCHLD to no one.
	reapChildren()
	for s := range signals {
		if s == syscall.SIGCHLD {
			reapChildren()
			continue
		}
		os.Exit(0)
	}
}

// reapChildren collects every child that has exited, without blocking, and returns their
// process IDs.
func reapChildren() []int {
	var pids []int
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil || pid <= 0 { // ECHILD: no children; 0: none has exited yet
			return pids
		}
		pids = append(pids, pid)
	}
}
