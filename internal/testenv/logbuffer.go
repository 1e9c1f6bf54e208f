package testenv

import (
	"bytes"
	"sync"
)

// LogBuffer collects what concurrent writers (a handler's goroutines, a child process'
// output, a logger) write, for a test to read while they still run.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String is everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
