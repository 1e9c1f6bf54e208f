package cache

// MemoryRecentWritesLen is how many marks m holds, for tests.
func MemoryRecentWritesLen(m *MemoryRecentWrites) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.until)
}
