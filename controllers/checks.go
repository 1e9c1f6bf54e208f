package controllers

import (
	"crypto/sha256"
	"encoding/binary"
	"sync"

	"k8s.io/apimachinery/pkg/types"
)

// childChecks remembers, for each Gallery, what the applier last checked of its children
// against the API server, where the cache cannot tell: that a slim child's generation
// (or content digest) was up to date with an applied hash (applier.remember), that a
// Deployment's replicas were released at a generation (applier.releaseReplicas). Each
// check is kept as two 16-byte fingerprints — which check of which child, and what was
// seen — in one small slice per Gallery, dropped with the Gallery (forget): 32 bytes a
// check, about 800 bytes a Gallery (a map of the same held three times that, a sync.Map
// of named entries six). A Gallery has a few dozen checks, so a scan finds one as fast
// as a hash would. A fingerprint that
// differs only ever means "check again": equal fingerprints of different inputs would
// need a SHA-256 collision in 128 bits.
type childChecks struct {
	galleries sync.Map // types.NamespacedName → *galleryChecks
}

// galleryChecks are one Gallery's checks. One Gallery is reconciled by one worker at a
// time, but forget runs from the reconcile of a Gallery being deleted while another
// worker may read; the mutex keeps that safe.
type galleryChecks struct {
	mu     sync.Mutex
	checks []checkSeen
}

// checkSeen is one check and what it last found.
type checkSeen struct{ check, seen fingerprint }

// find is the index of check in g.checks, or -1; the caller holds g.mu.
func (g *galleryChecks) find(check fingerprint) int {
	for i := range g.checks {
		if g.checks[i].check == check {
			return i
		}
	}
	return -1
}

// fingerprint is the first 16 bytes of the SHA-256 of a check's parts (fingerprintOf).
type fingerprint [16]byte

// fingerprintOf hashes parts, each length-prefixed so that ("ab", "c") and ("a", "bc")
// differ.
func fingerprintOf(parts ...string) fingerprint {
	h := sha256.New()
	var n [8]byte
	for _, p := range parts {
		binary.LittleEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
	var f fingerprint
	copy(f[:], h.Sum(nil))
	return f
}

// record remembers that check (fingerprintOf the check's name, the child's kind and
// name) found seen.
func (c *childChecks) record(gallery types.NamespacedName, check, seen fingerprint) {
	v, _ := c.galleries.LoadOrStore(gallery, &galleryChecks{})
	g := v.(*galleryChecks)
	g.mu.Lock()
	defer g.mu.Unlock()
	if i := g.find(check); i >= 0 {
		g.checks[i].seen = seen
		return
	}
	g.checks = append(g.checks, checkSeen{check: check, seen: seen})
}

// found reports whether check last found seen.
func (c *childChecks) found(gallery types.NamespacedName, check, seen fingerprint) bool {
	v, ok := c.galleries.Load(gallery)
	if !ok {
		return false
	}
	g := v.(*galleryChecks)
	g.mu.Lock()
	defer g.mu.Unlock()
	i := g.find(check)
	return i >= 0 && g.checks[i].seen == seen
}

// forget drops a Gallery's checks.
func (c *childChecks) forget(gallery types.NamespacedName) {
	c.galleries.Delete(gallery)
}

// len is the number of checks held for gallery (for tests).
func (c *childChecks) len(gallery types.NamespacedName) int {
	v, ok := c.galleries.Load(gallery)
	if !ok {
		return 0
	}
	g := v.(*galleryChecks)
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.checks)
}
