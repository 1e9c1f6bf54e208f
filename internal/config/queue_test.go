package config

import "testing"

// The stream names are Redis keys that running Galleries already hold jobs under, and
// the workers, the backlog scaler and KEDA must agree on them: a rename strands jobs.
func TestQueueStreamNames(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{QueueStream("photos"), "sortographer:photos:jobs"},
		{QueueLowStream("photos"), "sortographer:photos:jobs:low"},
		{QueueLowStream("team-a"), "sortographer:team-a:jobs:low"},
	} {
		if tt.got != tt.want {
			t.Errorf("stream %q, want %q", tt.got, tt.want)
		}
	}
}
