package cache

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/sortographer/sortographer/internal/store"
)

// Memory is an in-process LabelCounts for a Gallery of one replica without Redis, where
// API and workers share the process. It holds at most Options.MaxEntries owners: when
// full it drops expired entries, then arbitrary ones.
type Memory struct {
	o   Options
	now func() time.Time

	mu      sync.Mutex
	entries map[int64]memoryEntry
	// clock counts invalidations. A fill's token is its value when the fill began, and
	// an entry records the clock of its owner's last invalidation.
	clock uint64
	// floor is the newest invalidation among dropped entries: Put cannot tell whether a
	// fill older than it raced that invalidation, so it refuses the fill.
	floor uint64
}

type memoryEntry struct {
	counts      []store.LabelCount
	cached      bool // false: invalidated, nothing to serve
	invalidated uint64
	expires     time.Time
}

// NewMemory returns an in-process cache.
func NewMemory(o Options) *Memory {
	return &Memory{o: o.withDefaults(), now: time.Now, entries: map[int64]memoryEntry{}}
}

// TTL implements LabelCounts.
func (m *Memory) TTL() time.Duration { return m.o.TTL }

// Get implements LabelCounts.
func (m *Memory) Get(_ context.Context, ownerID int64) ([]store.LabelCount, string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[ownerID]
	if ok && !m.now().Before(e.expires) {
		m.drop(ownerID, e)
		ok = false
	}
	if ok && e.cached {
		return slices.Clone(e.counts), "", true, nil
	}
	return nil, strconv.FormatUint(m.clock, 10), false, nil
}

// Put implements LabelCounts.
func (m *Memory) Put(_ context.Context, ownerID int64, token string, counts []store.LabelCount) error {
	began, err := strconv.ParseUint(token, 10, 64)
	if err != nil {
		return nil // not a token of ours: keep nothing
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if began < m.floor {
		return nil
	}
	e, ok := m.entries[ownerID]
	if ok && e.invalidated > began {
		return nil
	}
	if !ok {
		m.makeRoom()
	}
	m.entries[ownerID] = memoryEntry{counts: slices.Clone(counts), cached: true, invalidated: e.invalidated, expires: m.now().Add(m.o.TTL)}
	return nil
}

// Invalidate implements LabelCounts.
func (m *Memory) Invalidate(_ context.Context, ownerID int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.clock++
	if _, ok := m.entries[ownerID]; !ok {
		m.makeRoom()
	}
	// The entry stays, empty, to refuse fills begun before now; dropping it later
	// raises the floor instead.
	m.entries[ownerID] = memoryEntry{invalidated: m.clock, expires: m.now().Add(m.o.TTL)}
	return nil
}

// makeRoom frees a slot for one more entry.
func (m *Memory) makeRoom() {
	if len(m.entries) < m.o.MaxEntries {
		return
	}
	now := m.now()
	for id, e := range m.entries {
		if !now.Before(e.expires) {
			m.drop(id, e)
		}
	}
	for id, e := range m.entries {
		if len(m.entries) < m.o.MaxEntries {
			break
		}
		m.drop(id, e)
	}
}

func (m *Memory) drop(ownerID int64, e memoryEntry) {
	delete(m.entries, ownerID)
	m.floor = max(m.floor, e.invalidated)
}
