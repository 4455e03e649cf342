package webui

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"loam/mailbox/feed"
)

// Posts and syncs take from seconds to minutes (every packet waits for its
// slot in the cover stream), so they run as jobs in the background, under
// the server's context rather than the request's; pages follow a job's
// progress through /api/jobs/{id}.

// Job states.
const (
	jobRunning = "running"
	jobDone    = "done"
	jobFailed  = "failed"
)

type job struct {
	id   string
	kind string // "post" or "sync"

	mu          sync.Mutex
	state       string
	done, total int
	message     string
}

// jobView is a job as /api/jobs/{id} reports it and pages show it.
type jobView struct {
	ID      string `json:"id"`
	Kind    string `json:"kind"`
	State   string `json:"state"`
	Done    int    `json:"done"`
	Total   int    `json:"total"`
	Message string `json:"message"`
}

// progress is the feed's progress callback.
func (j *job) progress(done, total int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.done, j.total = done, total
}

func (j *job) finish(state, message string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.state, j.message = state, message
}

func (j *job) view() jobView {
	j.mu.Lock()
	defer j.mu.Unlock()
	return jobView{ID: j.id, Kind: j.kind, State: j.state, Done: j.done, Total: j.total, Message: j.message}
}

type jobs struct {
	byID  map[string]*job
	order []string // oldest first
}

func newJobs() jobs { return jobs{byID: map[string]*job{}} }

func (js *jobs) add(j *job) {
	if len(js.order) >= maxJobs {
		delete(js.byID, js.order[0])
		js.order = js.order[1:]
	}
	js.byID[j.id] = j
	js.order = append(js.order, j.id)
}

// errClosed reports a job asked of a server that is shutting down.
var errClosed = errors.New("webui: shutting down")

// newJobLocked registers a running job; s.mu is held.
func (s *Server) newJobLocked(kind string) (*job, error) {
	if s.closed {
		return nil, errClosed
	}
	id, err := randomString()
	if err != nil {
		return nil, err
	}
	j := &job{id: id, kind: kind, state: jobRunning}
	s.jobs.add(j)
	s.wg.Add(1)
	return j, nil
}

func (s *Server) job(id string) *job {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.jobs.byID[id]
}

// startPost posts in the background.
func (s *Server) startPost(text string, atts []feed.Attachment) (*job, error) {
	s.mu.Lock()
	j, err := s.newJobLocked("post")
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	go func() {
		defer s.wg.Done()
		e, err := s.feed.Post(s.ctx, text, atts, j.progress)
		switch {
		case err == nil:
			j.finish(jobDone, "Posted.")
		case errors.Is(err, feed.ErrNotDelivered) && e != nil:
			j.finish(jobDone, "Posted. Some friends get it at the next sync.")
			s.log.Warn("webui: post not yet delivered to every friend", "entry", e.ID, "err", err)
		default:
			j.finish(jobFailed, "Not posted: "+err.Error())
			s.log.Warn("webui: post failed", "err", err)
		}
	}()
	return j, nil
}

// syncReport is the outcome of the last sync, for the pages.
type syncReport struct {
	At  time.Time // zero before the first sync ends
	New int
	Err string
}

// startSyncLocked starts a sync unless one runs already, and returns the
// one running (nil when the server is closing); s.mu is held.
func (s *Server) startSyncLocked() *job {
	if s.syncing != nil {
		return s.syncing
	}
	j, err := s.newJobLocked("sync")
	if err != nil {
		return nil
	}
	if s.timer != nil {
		s.timer.Stop() // the periodic sync counts from this one's end
		s.timer = nil
	}
	s.syncing = j
	go s.runSync(j)
	return j
}

func (s *Server) runSync(j *job) {
	defer s.wg.Done()
	entries, err := s.feed.Sync(s.ctx, j.progress)
	rep := syncReport{At: s.clk.Now(), New: len(entries)}
	state, msg := jobDone, fmt.Sprintf("Synced: %s.", plural(len(entries), "new entry", "new entries"))
	if err != nil {
		rep.Err = err.Error()
		state, msg = jobFailed, fmt.Sprintf("Sync incomplete (%s): %v", plural(len(entries), "new entry", "new entries"), err)
		s.log.Warn("webui: sync incomplete", "new", len(entries), "err", err)
	}
	s.mu.Lock()
	s.syncing = nil
	s.lastSync = rep
	if s.cfg.SyncInterval > 0 && !s.closed {
		s.timer = s.clk.AfterFunc(s.cfg.SyncInterval, s.periodicSync)
	}
	s.mu.Unlock()
	j.finish(state, msg) // after lastSync, so a page reloaded on "done" shows it
}

func (s *Server) periodicSync() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.timer = nil
	s.startSyncLocked()
}

// sync handles POST /sync: it starts a sync (or joins the one running) and
// shows its progress on the timeline.
func (s *Server) sync(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	s.mu.Lock()
	j := s.startSyncLocked()
	s.mu.Unlock()
	if j == nil {
		http.Error(w, errClosed.Error(), http.StatusServiceUnavailable)
		return
	}
	http.Redirect(w, r, "/?job="+j.id, http.StatusSeeOther)
}

// jobJSON handles GET /api/jobs/{id}.
func (s *Server) jobJSON(w http.ResponseWriter, r *http.Request) {
	j := s.job(r.PathValue("id"))
	if j == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such job"})
		return
	}
	writeJSON(w, http.StatusOK, j.view())
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
