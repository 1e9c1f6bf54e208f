package worker

import "time"

// SetTiming shortens the worker's periods for a test and returns how to restore them.
func SetTiming(sweep, retry, take, depth time.Duration) (restore func()) {
	old := []time.Duration{sweepEvery, retryBase, takeWait, depthEvery}
	sweepEvery, retryBase, takeWait, depthEvery = sweep, retry, take, depth
	return func() { sweepEvery, retryBase, takeWait, depthEvery = old[0], old[1], old[2], old[3] }
}
