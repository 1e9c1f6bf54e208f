package api

import "github.com/sortographer/sortographer/internal/dberr"

// unavailableRetryAfter is the Retry-After, in seconds, of a request refused because
// the database cannot be reached: about the time a managed database's failover takes
// to start answering (Aurora: under 30s; a client retries a few times meanwhile).
const unavailableRetryAfter = "10"

// databaseUnavailable reports an error that means the database cannot serve the request
// now (dberr.Unavailable): retried once the database is back, the request may succeed,
// so it is answered 503, not 500 (docs/disaster-recovery.md). What an upload keeps when
// its write may have committed anyway is internal/photos' decision (dberr.MayHaveCommitted).
func databaseUnavailable(err error) bool { return dberr.Unavailable(err) }
