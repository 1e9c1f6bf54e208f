package api

import (
	"context"
	"net/http"
	"time"

	"github.com/sortographer/sortographer/internal/queue"
	"github.com/sortographer/sortographer/internal/store"
)

// recentListed is how many recent failures and dead letters the admin view lists.
const recentListed = 20

// admin is authed for users with the admin role (auth.admins at sign-up): anonymous
// requests answer 401 and other users 403.
func (s *Server) admin(h func(http.ResponseWriter, *http.Request, store.User)) http.Handler {
	return s.authed(func(w http.ResponseWriter, r *http.Request, u store.User) {
		if !u.IsAdmin {
			writeError(w, r, http.StatusForbidden, "forbidden", "this needs the admin role")
			return
		}
		h(w, r, u)
	})
}

// The admin view shows counts and, for failures, the image id, owner id, reason and
// time: what an operator needs to find a problem, and no user's emails, photos or
// labels.

type statusCountsJSON struct {
	Queued   int64 `json:"queued"`
	Labelled int64 `json:"labelled"`
	Failed   int64 `json:"failed"`
}

type queueJSON struct {
	// Total is jobs waiting or in a worker's hands, as sortographer_queue_depth.
	Total int64 `json:"total"`
	// Normal (uploads) and Low (reclassification); null when the queue cannot split it.
	Normal *int64 `json:"normal"`
	Low    *int64 `json:"low"`
	// DeadLetters is the length of the dead-letter list; null when unknown.
	DeadLetters *int64 `json:"deadLetters"`
}

type failureJSON struct {
	ImageID string    `json:"imageId"`
	OwnerID int64     `json:"ownerId"`
	Reason  string    `json:"reason"`
	At      time.Time `json:"at"`
}

type deadLetterJSON struct {
	ImageID string `json:"imageId"`
	OwnerID int64  `json:"ownerId"`
	// Priority is "normal" (an upload) or "low" (a reclassification).
	Priority string    `json:"priority"`
	Attempts int       `json:"attempts"`
	Reason   string    `json:"reason"`
	At       time.Time `json:"at"`
}

type adminStatsJSON struct {
	Users  int64            `json:"users"`
	Images int64            `json:"images"`
	Labels int64            `json:"labels"`
	Status statusCountsJSON `json:"imagesByStatus"`
	// ReclassifyPending are images marked for reclassification whose job has not run.
	ReclassifyPending int64 `json:"reclassifyPending"`
	// Queue is null when the queue cannot be read (Redis down); the rest still answers.
	Queue *queueJSON `json:"queue"`
	// RecentFailures are the images most recently marked failed, newest first.
	RecentFailures []failureJSON `json:"recentFailures"`
	// RecentDeadLetters are the jobs most recently given up, newest first: failed
	// uploads, and failed reclassifications (whose images keep their old labels).
	RecentDeadLetters []deadLetterJSON `json:"recentDeadLetters"`
}

// adminStats answers the Gallery's totals. Row counts may lag a moment (they are
// lag-tolerant reads); the queue is read live.
func (s *Server) adminStats(w http.ResponseWriter, r *http.Request, _ store.User) {
	st, err := s.d.Store.Stats(r.Context())
	if err != nil {
		s.internalError(w, r, "counting rows", err)
		return
	}
	failures, err := s.d.Store.RecentFailures(r.Context(), recentListed)
	if err != nil {
		s.internalError(w, r, "listing failures", err)
		return
	}
	out := adminStatsJSON{
		Users: st.Users, Images: st.Images, Labels: st.Labels,
		Status:            statusCountsJSON{Queued: st.Queued, Labelled: st.Labelled, Failed: st.Failed},
		ReclassifyPending: st.ReclassifyPending,
		RecentFailures:    make([]failureJSON, 0, len(failures)),
		RecentDeadLetters: []deadLetterJSON{},
	}
	for _, f := range failures {
		out.RecentFailures = append(out.RecentFailures, failureJSON{ImageID: f.ImageID, OwnerID: f.OwnerID, Reason: f.Reason, At: f.At.UTC()})
	}
	ctx, cancel := context.WithTimeout(r.Context(), queueDepthTimeout)
	defer cancel()
	out.Queue, out.RecentDeadLetters = s.queueStats(ctx)
	writeJSON(w, http.StatusOK, out)
}

// queueStats reads the queue for the admin view: nil when it cannot be read.
func (s *Server) queueStats(ctx context.Context) (*queueJSON, []deadLetterJSON) {
	dead := []deadLetterJSON{}
	total, err := s.d.Queue.Depth(ctx)
	if err != nil {
		s.log(ctx).Warn("reading the queue for the admin view failed", "error", err)
		return nil, dead
	}
	q := &queueJSON{Total: total}
	in, ok := s.d.Queue.(queue.Inspector)
	if !ok {
		return q, dead
	}
	if d, err := in.Depths(ctx); err == nil {
		q.Normal, q.Low = &d.Normal, &d.Low
	} else {
		s.log(ctx).Warn("reading the queue depths failed", "error", err)
	}
	if n, err := in.DeadLetterCount(ctx); err == nil {
		q.DeadLetters = &n
	} else {
		s.log(ctx).Warn("counting dead letters failed", "error", err)
	}
	dls, err := in.RecentDeadLetters(ctx, recentListed)
	if err != nil {
		s.log(ctx).Warn("listing dead letters failed", "error", err)
	}
	for _, dl := range dls {
		prio := "normal"
		if dl.Job.Priority == queue.PriorityLow {
			prio = "low"
		}
		dead = append(dead, deadLetterJSON{ImageID: dl.Job.ImageID, OwnerID: dl.Job.OwnerID, Priority: prio,
			Attempts: dl.Attempts, Reason: dl.Reason, At: dl.At.UTC()})
	}
	return q, dead
}
