package worker_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/objects"
	"github.com/sortographer/sortographer/internal/queue"
	"github.com/sortographer/sortographer/internal/store"
	"github.com/sortographer/sortographer/internal/testservers"
	"github.com/sortographer/sortographer/internal/worker"
)

// The test binary doubles as a worker process when these are set.
const (
	helperEnv        = "SORTOGRAPHER_TEST_WORKER_PROCESS"
	helperCommitsEnv = "SORTOGRAPHER_TEST_COMMITS"
	helperDelayEnv   = "SORTOGRAPHER_TEST_CLASSIFY_DELAY"
)

// workerProcessMain is a worker process: the configuration from the environment, the
// colour classifier and reader, a commit log, until SIGTERM.
func workerProcessMain() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	fail := func(err error) int { log.Error("worker process failed", "error", err); return 1 }
	cfg, err := config.Load(os.Environ())
	if err != nil {
		return fail(err)
	}
	worker.SetTiming(300*time.Millisecond, 50*time.Millisecond, 200*time.Millisecond, time.Second)
	st, err := store.Open(ctx, cfg.Database, cfg.SQLiteFile())
	if err != nil {
		return fail(err)
	}
	defer st.Close()
	obj, err := objects.NewFilesystem(cfg.StorageDir())
	if err != nil {
		return fail(err)
	}
	rc, err := queue.NewRedisClient(cfg.Redis)
	if err != nil {
		return fail(err)
	}
	defer rc.Close()
	delay, _ := time.ParseDuration(os.Getenv(helperDelayEnv))
	q := queue.NewRedis(rc, cfg.GalleryName, queue.Options{VisibilityTimeout: cfg.Workers.VisibilityTimeout})
	err = worker.Run(ctx, worker.Deps{
		Config: cfg, Store: commitLog{st, os.Getenv(helperCommitsEnv)}, Objects: obj, Queue: q,
		Classifier: newColourClassifier(delay), TextReader: newColourReader(delay / 2), Redis: rc, Logger: log,
	})
	if err != nil {
		return fail(err)
	}
	return 0
}

// workerEnv is the environment of a worker process for the fixture's gallery.
func workerEnv(f *fixture, redisAddr, commits string, delay time.Duration) []string {
	db := f.cfg.Database
	env := append(os.Environ(),
		helperEnv+"=1",
		helperCommitsEnv+"="+commits,
		helperDelayEnv+"="+delay.String(),
		config.EnvGalleryName+"="+f.cfg.GalleryName,
		config.EnvDataDir+"="+f.cfg.DataDir,
		config.EnvRedisAddr+"="+redisAddr,
		config.EnvDatabaseDriver+"="+db.Driver,
		config.EnvWorkerConcurrency+"=3",
		config.EnvBatchSize+"=3",
		config.EnvIntakePerSecond+"=2000",
		config.EnvProviderRequestsPerSecond+"=2000",
		config.EnvMaxAttempts+"=1000", // kills count as attempts; this test is about losing nothing
		config.EnvVisibilityTimeout+"=1s",
		config.EnvRequeueAfter+"=2s",
		config.EnvShutdownGrace+"=5s",
	)
	if db.Driver != config.DriverSQLite {
		env = append(env,
			config.EnvDatabaseHost+"="+db.Host,
			config.EnvDatabasePort+"="+strconv.Itoa(db.Port),
			config.EnvDatabaseName+"="+db.Name,
			config.EnvDatabaseUser+"="+db.User,
			config.EnvDatabasePassword+"="+db.Password,
		)
	}
	return env
}

func startWorkerProcess(t *testing.T, env []string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = env
	cmd.Stderr = os.Stderr
	// Pdeathsig: no worker outlives a crashed test binary.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// Several worker processes against one redis-server and MariaDB; one of them is killed
// with SIGKILL, mid-job (classifying, reading the text, committing), 50 times and
// replaced. Afterwards every image is labelled and has its text, none written twice,
// and the queue is empty.
func TestKilledWorkersLoseNothing(t *testing.T) {
	ctx := context.Background()
	srv := testservers.Redis(t)
	f := newFixture(t, testservers.MariaDB(t).Config())
	rc := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rc.Close()
	producer := queue.NewRedis(rc, f.cfg.GalleryName, queue.Options{})
	ids := f.addImages(600)
	enqueueAll(t, producer, f.owner.ID, ids)
	log := commitPath(t)
	env := workerEnv(f, srv.Addr(), log, 40*time.Millisecond)

	const workers, kills = 3, 50
	procs := make([]*exec.Cmd, workers)
	for i := range procs {
		procs[i] = startWorkerProcess(t, env)
	}
	midJob := 0
	for range kills {
		time.Sleep(time.Duration(60+rand.IntN(80)) * time.Millisecond)
		i := rand.IntN(workers)
		if depth, _ := producer.Depth(ctx); depth > 0 {
			midJob++
		}
		_ = procs[i].Process.Signal(syscall.SIGKILL)
		_ = procs[i].Wait()
		procs[i] = startWorkerProcess(t, env)
	}
	if midJob < kills*4/5 {
		t.Errorf("only %d of %d kills happened while jobs were in hand: make the run longer", midJob, kills)
	}
	f.waitSettled(ids, 60*time.Second)
	f.checkLabelled(ids)
	f.checkText(ids, func(i int) int { return i })
	seen := commits(t, log)
	for id, n := range seen {
		if n > 1 {
			t.Errorf("image %s: labels written %d times", id, n)
		}
	}
	// Every job acknowledged, eventually (claims of the last killed worker's jobs take
	// a visibility timeout).
	deadline := time.Now().Add(10 * time.Second)
	depth, _ := producer.Depth(ctx)
	for ; depth > 0 && time.Now().Before(deadline); depth, _ = producer.Depth(ctx) {
		time.Sleep(100 * time.Millisecond)
	}
	if depth != 0 {
		t.Errorf("queue depth %d after everything was labelled", depth)
	}
	if dead, _ := producer.DeadLetters(ctx, 10); len(dead) != 0 {
		t.Errorf("dead letters: %+v", dead)
	}
	// SIGTERM: every worker drains and exits cleanly within the grace.
	for _, p := range procs {
		_ = p.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range procs {
		done := make(chan error, 1)
		go func() { done <- p.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("worker exited with %v after SIGTERM", err)
			}
		case <-time.After(7 * time.Second):
			t.Errorf("worker still running 7s after SIGTERM (grace 5s)")
			_ = p.Process.Kill()
		}
	}
	t.Logf("%d images, %d kills (%d with jobs in hand), %d commits", len(ids), kills, midJob, len(seen))
}

// Redis flushed and then restarted mid-run: the jobs in it are lost, and the sweep of
// the database finds every image again.
func TestRedisLossIsRecoveredBySweep(t *testing.T) {
	fastTiming(t)
	srv := testservers.Redis(t)
	f := newFixture(t, config.Database{})
	cfg := workersConfig(f)
	cfg.Workers.RequeueAfter = 500 * time.Millisecond
	cfg.Workers.Concurrency = 2
	log := commitPath(t)
	ids := f.addImages(150)
	for i := range 2 {
		rc := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: 1})
		t.Cleanup(func() { _ = rc.Close() })
		q := queue.NewRedis(rc, cfg.GalleryName, queue.Options{VisibilityTimeout: cfg.Workers.VisibilityTimeout, Consumer: fmt.Sprint("w", i)})
		if i == 0 {
			enqueueAll(t, q, f.owner.ID, ids)
		}
		start(t, worker.Deps{Config: cfg, Store: commitLog{f.st, log}, Objects: f.obj, Queue: q, Classifier: newColourClassifier(15 * time.Millisecond), Redis: rc})
	}
	waitLabelled(t, f, ids, 30)
	srv.Flush()
	waitLabelled(t, f, ids, 60)
	srv.Restart()
	f.waitSettled(ids, 30*time.Second)
	f.checkLabelled(ids)
	// A job in a worker's hands when Redis lost it can be found by the sweep and taken
	// by another worker before the first commits; the second finds the image labelled
	// and writes nothing (store.ErrAlreadyLabelled). Exactly one write per image.
	for id, n := range commits(t, log) {
		if n != 1 {
			t.Errorf("image %s: labels written %d times", id, n)
		}
	}
}

// waitLabelled waits until at least n images are labelled.
func waitLabelled(t *testing.T, f *fixture, ids []string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		st, err := f.st.Stats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.Labelled >= int64(n) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("fewer than %d of %d images labelled after 20s", n, len(ids))
}
