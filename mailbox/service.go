package mailbox

import (
	"errors"
	"log/slog"
	"sync"

	"loam/mixnet"
	"loam/onion"
)

// Service is a mailbox replica: the mixnet service that answers deposit,
// fetch and delete requests from a Store. Store work (a deposit waits for
// durable storage) runs on the service's own workers, never on the node's
// unwrap workers.
type Service struct {
	store Store
	geo   onion.Geometry
	log   *slog.Logger
	jobs  chan job
	wg    sync.WaitGroup
	once  sync.Once
}

type job struct {
	body []byte
	req  *mixnet.Request
}

// NewService runs a replica over store with workers goroutines and a queue
// of queue requests; a request that finds the queue full is answered
// "unavailable" at once.
func NewService(store Store, geo onion.Geometry, workers, queue int, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	s := &Service{store: store, geo: geo, log: log, jobs: make(chan job, queue)}
	for range max(workers, 1) {
		s.wg.Add(1)
		go s.worker()
	}
	return s
}

// Serve implements mixnet.Service.
func (s *Service) Serve(req *mixnet.Request) {
	if !req.CanReply() {
		return // a request nobody can hear the answer to is not worth a write
	}
	j := job{body: append([]byte(nil), req.Body...), req: req}
	select {
	case s.jobs <- j:
	default:
		_ = req.Reply(AppendStatus(nil, StatusUnavailable))
	}
}

// Close stops the workers after the queued requests; it does not close the
// store.
func (s *Service) Close() {
	s.once.Do(func() { close(s.jobs) })
	s.wg.Wait()
}

func (s *Service) worker() {
	defer s.wg.Done()
	for j := range s.jobs {
		_ = j.req.Reply(s.handle(j.body)) // an unsendable answer is a lost packet; the client retries
	}
}

// handle answers one request body.
func (s *Service) handle(body []byte) []byte {
	r, st := ParseRequest(body)
	if st != StatusOK {
		return AppendStatus(nil, st)
	}
	switch r.Op {
	case opDeposit:
		seq, err := s.store.Deposit(r.ID, r.Blob)
		if err != nil {
			return AppendStatus(nil, s.status(err))
		}
		return AppendDepositReply(nil, seq)
	case opFetch:
		entries, head, err := s.store.Fetch(r.ID, r.Cursor, r.Max)
		if err != nil {
			return AppendStatus(nil, s.status(err))
		}
		out, _ := AppendFetchReply(nil, s.geo.UserPayload, r.Cursor, head, entries)
		return out
	case opDelete:
		n, err := s.store.Delete(r.ID, r.Cursor)
		if err != nil {
			return AppendStatus(nil, s.status(err))
		}
		return AppendDeleteReply(nil, n)
	}
	return AppendStatus(nil, StatusMalformed)
}

func (s *Service) status(err error) Status {
	switch {
	case errors.Is(err, ErrQuota):
		return StatusQuota
	case errors.Is(err, ErrTooLarge):
		return StatusTooLarge
	}
	s.log.Error("mailbox store failed", "err", err)
	return StatusUnavailable
}
