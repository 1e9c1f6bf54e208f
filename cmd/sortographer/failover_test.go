package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/testservers"
)

// TestFailoverToPromotedReplica is the runbook of docs/disaster-recovery.md against real
// replication: `serve` with an external writer and one reader, a stream of uploads from
// several users, the writer killed mid-stream, the reader promoted, and `serve` started
// again with SORTOGRAPHER_DATABASE_HOST/PORT naming the promoted server and no reader
// (what the operator's rolling update does after spec.database.external.host changes).
//
// Every upload is answered 202 or 503 with a JSON error, a Retry-After and no driver
// text, within a bound; the gallery takes uploads again after the restart; every image
// the database holds after the promotion has its original and thumbnail. Whether every
// acknowledged upload survives depends on the replication: with synchronous replication
// (MariaDB semi-sync, PostgreSQL synchronous_standby_names) none may be lost, and the
// test fails if one is; with asynchronous replication the loss is measured and logged,
// not asserted, since it is what the database promises. Commits are durable on the
// writer in both (DurableCommits, a production server's default), so what is lost is
// what replication had not delivered.
func TestFailoverToPromotedReplica(t *testing.T) {
	for _, engine := range []struct {
		name  string
		start func(testing.TB) *testservers.Replicated
	}{{"mariadb", testservers.ReplicatedMariaDB}, {"postgres", testservers.ReplicatedPostgres}} {
		for _, synchronous := range []bool{true, false} {
			mode := map[bool]string{true: "synchronous", false: "asynchronous"}[synchronous]
			t.Run(engine.name+"/"+mode, func(t *testing.T) {
				rep := engine.start(t)
				rep.DurableCommits(t)
				if synchronous {
					rep.Synchronous(t)
				}
				testFailoverToPromotedReplica(t, rep, synchronous)
			})
		}
	}
}

// Bounds of the failover test.
const (
	// failoverUsers upload at once, one stream each: the upload rate limit (60 a
	// minute) is per user.
	failoverUsers = 4
	// failoverUploadsPerUser caps each stream under that limit.
	failoverUploadsPerUser = 40
	// failoverAckedBeforeLoss is how many uploads are acknowledged before the writer is
	// killed, with the streams still running.
	failoverAckedBeforeLoss = 24
	// failoverRequestBound is the longest an upload may take to be answered while the
	// writer is lost. A refused connection is answered at once; the bound allows for the
	// store's dial timeout (10s) with a margin.
	failoverRequestBound = 15 * time.Second
)

// uploadAttempt is one upload of the stream and how it was answered.
type uploadAttempt struct {
	// user uploaded their photo number n.
	user, n    int
	photo      []byte
	start, end time.Time
	err        error
	status     int
	retryAfter string
	body       []byte
	// id is the image's id in a 202.
	id string
}

func testFailoverToPromotedReplica(t *testing.T, rep *testservers.Replicated, synchronous bool) {
	redisServer := testservers.Redis(t)
	dataDir := t.TempDir()
	shared := []string{
		config.EnvRedisAddr + "=" + redisServer.Addr(),
		config.EnvDataDir + "=" + dataDir,
		config.EnvJWTSecret + "=" + strings.Repeat("failover-test-key-", 3),
	}
	cfg := replicatedConfig(t, rep, shared...)
	base, stop := startServe(t, cfg)
	tokens := make([]string, failoverUsers)
	for i := range tokens {
		tokens[i] = signUpToken(t, base, fmt.Sprintf("failover%d@example.com", i))
	}

	client := &http.Client{Timeout: 2 * failoverRequestBound}
	var (
		mu       sync.Mutex
		attempts []uploadAttempt
		acked    int
		streamed = make(chan struct{}) // closed when the streams should end
		wg       sync.WaitGroup
	)
	for u := range failoverUsers {
		wg.Go(func() {
			for n := 0; n < failoverUploadsPerUser; n++ {
				select {
				case <-streamed:
					return
				default:
				}
				a := uploadOnce(client, base, tokens[u], u, n)
				mu.Lock()
				attempts = append(attempts, a)
				if a.status == http.StatusAccepted {
					acked++
				}
				mu.Unlock()
				if a.status != http.StatusAccepted {
					time.Sleep(10 * time.Millisecond) // as a client that retries does
				}
			}
		})
	}
	deadline := time.Now().Add(time.Minute)
	for {
		mu.Lock()
		n := acked
		mu.Unlock()
		if n >= failoverAckedBeforeLoss {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d uploads acknowledged in a minute before the writer was killed", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	killedAt := time.Now()
	rep.StopPrimary(t)
	// The streams run on for a second into the outage.
	time.Sleep(time.Second)
	close(streamed)
	wg.Wait()

	// With the writer gone the pod is not ready, so a Service stops sending it traffic.
	if res, err := http.Get(base + "/readyz"); err != nil {
		t.Errorf("/readyz with the writer lost: %v", err)
	} else {
		res.Body.Close()
		if res.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("/readyz with the writer lost = %d, want 503", res.StatusCode)
		}
	}

	// Every upload is answered within the bound, 202 or a clean 503.
	statuses := map[int]int{}
	var slowest time.Duration
	var afterLoss int
	unexpected := map[int]string{} // status: the first body
	for _, a := range attempts {
		took := a.end.Sub(a.start)
		slowest = max(slowest, took)
		if a.err != nil {
			t.Errorf("upload %d of user %d: no answer after %s: %v", a.n, a.user, took, a.err)
			continue
		}
		statuses[a.status]++
		if took > failoverRequestBound {
			t.Errorf("upload answered %d after %s, over the bound of %s", a.status, took, failoverRequestBound)
		}
		if a.start.After(killedAt) {
			afterLoss++
		}
		switch a.status {
		case http.StatusAccepted:
			if a.id == "" {
				t.Errorf("202 without an image id: %s", a.body)
			}
		case http.StatusServiceUnavailable:
			checkUnavailable(t, a, rep)
		default:
			if _, seen := unexpected[a.status]; !seen {
				unexpected[a.status] = string(a.body)
			}
		}
	}
	for status, body := range unexpected {
		t.Errorf("%d uploads answered %d, want 202 or 503; the first: %s", statuses[status], status, body)
	}
	if statuses[http.StatusServiceUnavailable] == 0 {
		t.Errorf("no upload was refused with 503 during the outage: %v", statuses)
	}

	// Recovery: promote the reader and roll the gallery onto it.
	promoteStart := time.Now()
	promoted := rep.PromoteReplica(t)
	promotedIn := time.Since(promoteStart)
	stop()
	restarted := testConfig(t, append([]string{
		config.EnvDatabaseDriver + "=" + promoted.Driver,
		config.EnvDatabaseHost + "=" + promoted.Host,
		config.EnvDatabasePort + "=" + strconv.Itoa(promoted.Port),
		config.EnvDatabaseName + "=" + promoted.Name,
		config.EnvDatabaseUser + "=" + promoted.User,
		config.EnvDatabasePassword + "=" + promoted.Password,
	}, shared...)...)
	newBase, _ := startServe(t, restarted)
	// The outage an admin sees is their reaction time plus this.
	resumedAfter := time.Since(promoteStart)

	// A new user can sign up and upload. The users' sessions still work (the signing
	// key is the Secret's, not the pod's) and each can upload again, unless
	// asynchronous replication lost their sign-up.
	newcomer := uploadOnce(client, newBase, signUpToken(t, newBase, "after-failover@example.com"), failoverUsers, 0)
	if newcomer.err != nil || newcomer.status != http.StatusAccepted {
		t.Fatalf("upload by a new user after the failover = %d %v %s, want 202", newcomer.status, newcomer.err, newcomer.body)
	}
	lostUsers := map[int]bool{}
	for u, token := range tokens {
		a := uploadOnce(client, newBase, token, u, failoverUploadsPerUser)
		if a.status == http.StatusUnauthorized {
			lostUsers[u] = true
			if synchronous {
				t.Errorf("user %d's sign-up was lost with synchronous replication", u)
			}
			continue
		}
		if a.err != nil || a.status != http.StatusAccepted {
			t.Fatalf("upload after the failover = %d %v %s, want 202", a.status, a.err, a.body)
		}
		attempts = append(attempts, a)
	}

	// Every image the promoted database lists has its original and thumbnail (no row
	// left pointing at removed objects), and which acknowledged uploads it lacks.
	var lostUploads []uploadAttempt
	var unacknowledgedKept int
	listedIDs := map[string]bool{}
	for u, token := range tokens {
		if lostUsers[u] {
			for _, a := range attempts {
				if a.user == u && a.status == http.StatusAccepted {
					lostUploads = append(lostUploads, a)
				}
			}
			continue
		}
		call := apiCaller(t, newBase, token)
		var listed struct{ Images []struct{ ID string } }
		if err := json.Unmarshal(call("GET", "/api/images?limit=500", nil, ""), &listed); err != nil {
			t.Fatal(err)
		}
		ids := map[string]bool{}
		for _, img := range listed.Images {
			ids[img.ID], listedIDs[img.ID] = true, true
			if len(call("GET", "/api/images/"+img.ID+"/thumbnail", nil, "")) == 0 {
				t.Errorf("image %s has an empty thumbnail", img.ID)
			}
			original := call("GET", "/api/images/"+img.ID+"/original", nil, "")
			i := slices.IndexFunc(attempts, func(a uploadAttempt) bool { return a.user == u && bytes.Equal(a.photo, original) })
			switch {
			case i < 0:
				t.Errorf("image %s's original is no photo user %d uploaded", img.ID, u)
			case attempts[i].status != http.StatusAccepted:
				// The database committed the row but the answer was lost with the
				// writer: the client was told 503 and may upload it again, which
				// answers it as a duplicate.
				unacknowledgedKept++
			}
		}
		for _, a := range attempts {
			if a.user == u && a.status == http.StatusAccepted && !ids[a.id] {
				lostUploads = append(lostUploads, a)
			}
		}
	}

	// Every photo in storage is an image the database lists, except those of uploads
	// asynchronous replication lost, and those of uploads refused when the connection
	// broke after their row was sent (it might have been committed, so they are kept).
	listedIDs[newcomer.id] = true
	stored, _ := filepath.Glob(filepath.Join(cfg.StorageDir(), "images", "*", "*", "original"))
	var keptUnrecorded int
	for _, path := range stored {
		if listedIDs[filepath.Base(filepath.Dir(path))] {
			continue
		}
		original, _ := os.ReadFile(path)
		i := slices.IndexFunc(attempts, func(a uploadAttempt) bool { return bytes.Equal(a.photo, original) })
		switch {
		case i >= 0 && attempts[i].status == http.StatusServiceUnavailable:
			keptUnrecorded++
		case i >= 0 && attempts[i].status == http.StatusAccepted && slices.ContainsFunc(lostUploads, func(a uploadAttempt) bool { return a.id == attempts[i].id }):
		default:
			t.Errorf("%s belongs to no image and to no lost or refused upload", path)
		}
	}
	var inFlight int
	for _, a := range attempts {
		if a.start.Before(killedAt) && a.end.After(killedAt) {
			inFlight++
		}
	}

	// window is how long before the kill the oldest lost upload was acknowledged:
	// negative when its answer came as the writer was being killed.
	var window time.Duration
	for i, a := range lostUploads {
		if i == 0 || killedAt.Sub(a.end) > window {
			window = killedAt.Sub(a.end)
		}
	}
	t.Logf("%d uploads: %v; %d in flight when the writer was killed, %d started after; slowest answer %s; "+
		"%d refused uploads were recorded anyway, %d refused ones kept their photos unrecorded; "+
		"the replica was promoted in %s and the restarted gallery ready %s after the promotion began; "+
		"%d acknowledged uploads lost, the oldest acknowledged %s before the kill; %d of %d sign-ups lost",
		len(attempts), statuses, inFlight, afterLoss, slowest.Round(time.Millisecond),
		unacknowledgedKept, keptUnrecorded,
		promotedIn.Round(time.Millisecond), resumedAfter.Round(time.Millisecond),
		len(lostUploads), window.Round(time.Millisecond), len(lostUsers), failoverUsers)
	if synchronous && len(lostUploads) > 0 {
		t.Errorf("%d acknowledged uploads lost with synchronous replication", len(lostUploads))
	}
}

// uploadOnce uploads photo n of user u, a JPEG no other upload has, and records the
// answer.
func uploadOnce(client *http.Client, base, token string, u, n int) uploadAttempt {
	photo := image.NewGray(image.Rect(0, 0, 32, 32))
	for i := range photo.Pix {
		photo.Pix[i] = uint8(i*(n+1) + u*97)
	}
	var jpg, body bytes.Buffer
	_ = jpeg.Encode(&jpg, photo, &jpeg.Options{Quality: 95})
	mw := multipart.NewWriter(&body)
	part, _ := mw.CreateFormFile("file", "stream.jpg")
	_, _ = part.Write(jpg.Bytes())
	_ = mw.Close()

	a := uploadAttempt{user: u, n: n, photo: jpg.Bytes(), start: time.Now()}
	req, _ := http.NewRequest("POST", base+"/api/images", &body)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	res, err := client.Do(req)
	if err != nil {
		a.err, a.end = err, time.Now()
		return a
	}
	a.body, a.err = io.ReadAll(res.Body)
	res.Body.Close()
	a.end, a.status, a.retryAfter = time.Now(), res.StatusCode, res.Header.Get("Retry-After")
	if a.status == http.StatusAccepted {
		var page struct{ Images []struct{ ID string } }
		if json.Unmarshal(a.body, &page) == nil && len(page.Images) == 1 {
			a.id = page.Images[0].ID
		}
	}
	return a
}

// checkUnavailable checks a 503 is the API's JSON error with a Retry-After, and says
// nothing of the database's address or the driver's error.
func checkUnavailable(t *testing.T, a uploadAttempt, rep *testservers.Replicated) {
	t.Helper()
	var body struct {
		Error struct{ Code, Message, RequestID string }
	}
	if err := json.Unmarshal(a.body, &body); err != nil || body.Error.Code == "" || body.Error.Message == "" {
		t.Errorf("503 body is not the API's JSON error: %s", a.body)
	}
	if secs, err := strconv.Atoi(a.retryAfter); err != nil || secs < 1 {
		t.Errorf("503 with Retry-After %q, want a number of seconds", a.retryAfter)
	}
	// The request id is random hex, which can hold the database's port by chance.
	answer := string(a.body)
	if body.Error.RequestID != "" {
		answer = strings.ReplaceAll(answer, body.Error.RequestID, "<request id>")
	}
	lower := strings.ToLower(answer)
	for _, leak := range []string{"dial", "tcp", "127.0.0.1", strconv.Itoa(rep.Primary.Port), "refused", "eof",
		"sql", "driver", "mysql", "mariadb", "postgres", "pgx", "pgconn", "broken pipe", "reset"} {
		if strings.Contains(lower, leak) {
			t.Errorf("503 body mentions %q: %s", leak, a.body)
		}
	}
}
