package store

import (
	"context"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/testservers"
)

// Readers are checked often here, so tests wait milliseconds, not seconds, for the
// health loop to notice a change.
func init() {
	readerCheckInterval = 50 * time.Millisecond
	readerCheckTimeout = 10 * time.Second
}

var replicatedBackends = []struct {
	name  string
	start func(testing.TB) *testservers.Replicated
}{
	{"mariadb", testservers.ReplicatedMariaDB},
	{"postgres", testservers.ReplicatedPostgres},
}

// TestReadReplicas runs against a real primary and a real replica of each engine: the
// replica's replication is paused, so a row written meanwhile is on the writer only, and
// whether a read sees it tells which server answered.
func TestReadReplicas(t *testing.T) {
	for _, b := range replicatedBackends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			rep := b.start(t)
			s := open(t, rep.Config(), "")
			if err := s.Migrate(ctxFor(t)); err != nil {
				t.Fatalf("migrate: %v", err)
			}
			rep.WaitReplicated(t)
			waitReader(t, s, rep.ReaderHost(), true)
			if up := readerGauge(t, s, "sortographer_database_reader_up"); up != 1 {
				t.Errorf("sortographer_database_reader_up = %v, want 1", up)
			}
			lag := readerGauge(t, s, "sortographer_database_reader_lag_seconds")
			if b.name == "postgres" && (lag < 0 || lag > 5) {
				t.Errorf("sortographer_database_reader_lag_seconds = %v, want a measure near 0 for a standby that keeps up", lag)
			}
			if b.name == "mariadb" && lag != -1 {
				t.Errorf("sortographer_database_reader_lag_seconds = %v, want none: MariaDB does not tell", lag)
			}

			t.Run("LagTolerantReadsGoToTheReplica", func(t *testing.T) { testReadsGoToReplica(t, s, rep) })
			t.Run("StoppedReplicaIsSkippedThenUsedAgain", func(t *testing.T) { testStoppedReplica(t, s, rep) })
			t.Run("DeadReaderAmongLiveOnes", func(t *testing.T) { testDeadReaderAmongLive(t, rep) })
			if b.name == "postgres" {
				t.Run("ReaderLaggingPastMaximumIsSkipped", func(t *testing.T) { testMaxLag(t, rep) })
			}
		})
	}
}

// hidden writes an image of owner on the writer while replication is paused, and
// returns it: the replica does not have it until ResumeReplication.
func hidden(t *testing.T, s *sqlStore, rep *testservers.Replicated, owner User) Image {
	t.Helper()
	rep.PauseReplication(t)
	t.Cleanup(func() {
		// Resume even when the test failed, so the next subtest starts caught up.
		rep.ResumeReplication(t)
		rep.WaitReplicated(t)
	})
	return image(t, s, owner, time.Now())
}

func listed(t *testing.T, ctx context.Context, s Store, owner User) []string {
	t.Helper()
	p, err := s.ListImages(ctx, owner.ID, PageRequest{})
	if err != nil {
		t.Fatalf("list images: %v", err)
	}
	return ids(p.Images)
}

func testReadsGoToReplica(t *testing.T, s *sqlStore, rep *testservers.Replicated) {
	owner := user(t, s, "lag@example.com")
	seen := image(t, s, owner, base)
	labelled(t, s, seen, "cat")
	rep.WaitReplicated(t)
	img := hidden(t, s, rep, owner)
	labelled(t, s, img, "cat", "dog")
	ctx := ctxFor(t)

	if got := listed(t, ctx, s, owner); !slices.Equal(got, []string{seen.ID}) {
		t.Errorf("lag-tolerant listing = %v, want only %s: it should come from the paused replica", got, seen.ID)
	}
	found, err := s.SearchByLabels(ctx, owner.ID, []string{"dog"}, PageRequest{})
	if err != nil || len(found.Images) != 0 {
		t.Errorf("search on the replica = %v, %v; want nothing yet", ids(found.Images), err)
	}
	counts, err := s.LabelCounts(ctx, owner.ID)
	if err != nil || !slices.Equal(counts, []LabelCount{{Name: "cat", Images: 1}}) {
		t.Errorf("label counts on the replica = %v, %v; want cat: 1", counts, err)
	}
	stats, err := s.Stats(ctx)
	if err != nil || stats.Images != 1 {
		t.Errorf("stats on the replica = %+v, %v; want 1 image", stats, err)
	}
	if l, err := s.LabelsOfImages(ctx, owner.ID, []string{seen.ID, img.ID}); err != nil || len(l) != 1 || len(l[seen.ID]) != 1 {
		t.Errorf("labels of images on the replica = %v, %v; want cat on %s only", l, err, seen.ID)
	}

	// The same reads marked fresh, and reads that are not lag-tolerant, see the write.
	fresh := WithPrimaryReads(ctx)
	if got := listed(t, fresh, s, owner); !slices.Equal(got, []string{img.ID, seen.ID}) {
		t.Errorf("listing with primary reads = %v, want %s then %s", got, img.ID, seen.ID)
	}
	if c, err := s.LabelCounts(fresh, owner.ID); err != nil || len(c) != 2 {
		t.Errorf("label counts with primary reads = %v, %v; want cat and dog", c, err)
	}
	if l, err := s.LabelsOfImages(fresh, owner.ID, []string{seen.ID, img.ID}); err != nil || len(l) != 2 || len(l[img.ID]) != 2 {
		t.Errorf("labels of images with primary reads = %v, %v; want cat, dog on %s too", l, err, img.ID)
	}
	if _, err := s.Image(ctx, owner.ID, img.ID); err != nil {
		t.Errorf("get image (a writer read): %v", err)
	}

	rep.ResumeReplication(t)
	rep.WaitReplicated(t)
	if got := listed(t, ctx, s, owner); !slices.Equal(got, []string{img.ID, seen.ID}) {
		t.Errorf("listing once the replica caught up = %v, want %s then %s", got, img.ID, seen.ID)
	}
}

func testStoppedReplica(t *testing.T, s *sqlStore, rep *testservers.Replicated) {
	owner := user(t, s, "stopped@example.com")
	img := image(t, s, owner, base)
	rep.WaitReplicated(t)
	ctx := ctxFor(t)
	// Fill the reader's pool, so the stop leaves dead connections in it.
	if got := listed(t, ctx, s, owner); !slices.Equal(got, []string{img.ID}) {
		t.Fatalf("listing = %v, want %s", got, img.ID)
	}

	// A second store whose health loop is stopped stands for the moment before the loop
	// notices: the replica stays marked up until a read finds it gone.
	unchecked := open(t, rep.Config(), "")
	waitReader(t, unchecked, rep.ReaderHost(), true)
	unchecked.readers.stop()
	unchecked.readers.done.Wait()
	if got := listed(t, ctx, unchecked, owner); !slices.Equal(got, []string{img.ID}) {
		t.Fatalf("listing = %v, want %s", got, img.ID)
	}

	rep.StopReplica(t)
	t.Cleanup(func() { rep.StartReplica(t) }) // for the next subtest, should this one fail
	for i := range 3 {
		if got := listed(t, ctx, unchecked, owner); !slices.Equal(got, []string{img.ID}) {
			t.Errorf("listing %d right after the replica stopped = %v, want %s from the writer", i, got, img.ID)
		}
	}
	if st := ReaderStates(unchecked)[0]; st.Up {
		t.Errorf("reader state after a read found the replica gone = %+v, want down", st)
	}
	waitReader(t, s, rep.ReaderHost(), false)
	if up := readerGauge(t, s, "sortographer_database_reader_up"); up != 0 {
		t.Errorf("sortographer_database_reader_up with the replica stopped = %v, want 0", up)
	}
	for i := range 5 {
		if got := listed(t, ctx, s, owner); !slices.Equal(got, []string{img.ID}) {
			t.Errorf("listing %d with the replica down = %v, want %s from the writer", i, got, img.ID)
		}
	}
	if st, err := s.Stats(ctx); err != nil || st.Images < 1 {
		t.Errorf("stats with the replica down = %+v, %v", st, err)
	}

	rep.StartReplica(t)
	waitReader(t, s, rep.ReaderHost(), true)
	later := hidden(t, s, rep, owner)
	if got := listed(t, ctx, s, owner); slices.Contains(got, later.ID) {
		t.Errorf("listing after the replica restarted = %v: it has %s, so the writer answered, not the replica", got, later.ID)
	}
}

// testDeadReaderAmongLive configures a reader nothing listens on beside the replica:
// every read succeeds, and once the dead one is marked down the replica serves them.
func testDeadReaderAmongLive(t *testing.T, rep *testservers.Replicated) {
	c := rep.Config()
	dead := "127.0.0.1:" + strconv.Itoa(closedPort(t))
	c.ReaderHosts = []string{dead, rep.ReaderHost()}
	s := open(t, c, "")
	owner := user(t, s, "dead@example.com")
	img := image(t, s, owner, base)
	rep.WaitReplicated(t)
	ctx := ctxFor(t)
	for i := range 4 {
		if got := listed(t, ctx, s, owner); !slices.Equal(got, []string{img.ID}) {
			t.Errorf("listing %d = %v, want %s", i, got, img.ID)
		}
	}
	waitReader(t, s, dead, false)
	waitReader(t, s, rep.ReaderHost(), true)
	later := hidden(t, s, rep, owner)
	for i := range 4 {
		if got := listed(t, ctx, s, owner); !slices.Equal(got, []string{img.ID}) {
			t.Errorf("listing %d with the dead reader down = %v, want %s from the replica, without %s", i, got, img.ID, later.ID)
		}
	}
}

func testMaxLag(t *testing.T, rep *testservers.Replicated) {
	c := rep.Config()
	c.ReaderMaxLag = 300 * time.Millisecond
	s := open(t, c, "")
	owner := user(t, s, "maxlag@example.com")
	rep.WaitReplicated(t)
	waitReader(t, s, rep.ReaderHost(), true)
	img := hidden(t, s, rep, owner)
	// The replica received the write but did not replay it: its lag is the age of
	// the last transaction it replayed, which grows past the maximum.
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := ReaderStates(s)[0]
		if st.Up && !st.Usable && st.Lag > c.ReaderMaxLag {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reader state %+v: want up, lagging past %s, not usable", st, c.ReaderMaxLag)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := listed(t, ctxFor(t), s, owner); !slices.Equal(got, []string{img.ID}) {
		t.Errorf("listing with the replica too far behind = %v, want %s from the writer", got, img.ID)
	}
	rep.ResumeReplication(t)
	rep.WaitReplicated(t)
	deadline = time.Now().Add(10 * time.Second)
	for st := ReaderStates(s)[0]; !st.Usable || st.Lag != 0; st = ReaderStates(s)[0] {
		if time.Now().After(deadline) {
			t.Fatalf("reader state %+v after catching up: want usable, no lag", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitReader waits until the health loop reports reader host up (usable) or down.
func waitReader(t *testing.T, s *sqlStore, host string, up bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		for _, st := range ReaderStates(s) {
			if st.Host == host && st.Up == up && (!up || st.Usable) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("reader %s never became up=%v: %+v", host, up, ReaderStates(s))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// readerGauge is the value of one of NewReaderMetrics' gauges for s's only reader; -1
// when it is not reported.
func readerGauge(t *testing.T, s Store, name string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewReaderMetrics(s))
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather reader metrics: %v", err)
	}
	for _, f := range families {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return -1
}

// closedPort is a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	var lc net.ListenConfig
	l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return port
}

func TestSplitReaderHost(t *testing.T) {
	for _, tc := range []struct {
		in       string
		host     string
		port     int
		rejected bool
	}{
		{in: "reader.example.com", host: "reader.example.com", port: 5432},
		{in: "reader.example.com:6432", host: "reader.example.com", port: 6432},
		{in: "10.0.0.7:3307", host: "10.0.0.7", port: 3307},
		{in: "[::1]", host: "::1", port: 5432},
		{in: "[::1]:6000", host: "::1", port: 6000},
		{in: "reader:0", rejected: true},
		{in: "reader:http", rejected: true},
		{in: ":5432", rejected: true},
		{in: "a:b:c", rejected: true},
	} {
		host, port, err := splitReaderHost(tc.in, 5432)
		if tc.rejected {
			if err == nil {
				t.Errorf("splitReaderHost(%q) = %s, %d; want an error", tc.in, host, port)
			}
			continue
		}
		if err != nil || host != tc.host || port != tc.port {
			t.Errorf("splitReaderHost(%q) = %s, %d, %v; want %s, %d", tc.in, host, port, err, tc.host, tc.port)
		}
	}
}

// TestNoReadersUseTheWriter: without reader hosts every read goes to the writer, and
// the store reports no readers.
func TestNoReadersUseTheWriter(t *testing.T) {
	s := open(t, config.Database{Driver: config.DriverSQLite}, t.TempDir()+"/gallery.db")
	if s.reader(context.Background()) != s.db {
		t.Error("reader() without readers is not the writer")
	}
	if got := ReaderStates(s); got != nil {
		t.Errorf("ReaderStates = %+v, want none", got)
	}
}
