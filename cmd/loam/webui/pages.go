package webui

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"loam/mailbox/feed"
)

//go:embed templates/*.html
var templateFS embed.FS

// pages holds one template set per page, each the layout with the page's
// "content".
type pages struct{ sets map[string]*template.Template }

var pageNames = []string{"timeline", "compose", "friends", "status"}

func parsePages() (*pages, error) {
	base, err := template.ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("webui: layout template: %w", err)
	}
	p := &pages{sets: map[string]*template.Template{}}
	for _, name := range pageNames {
		t, err := template.Must(base.Clone()).ParseFS(templateFS, "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("webui: %s template: %w", name, err)
		}
		p.sets[name] = t
	}
	return p, nil
}

// layoutData is what every page's layout reads; Page is the page's own.
type layoutData struct {
	Title string
	Nav   string
	Me    string
	CSRF  string
	Job   *jobView
	Page  any
}

var titles = map[string]string{"timeline": "Timeline", "compose": "New post", "friends": "Friends", "status": "Status"}

// render writes page name with data, rendered to a buffer first so a
// template error does not leave half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, code int, name string, data any) {
	ld := layoutData{Title: titles[name], Nav: name, CSRF: csrfToken(r), Page: data}
	if id, err := s.feed.Identity(); err == nil {
		ld.Me = id.Name()
	}
	if j := s.job(r.URL.Query().Get("job")); j != nil {
		v := j.view()
		ld.Job = &v
	}
	var buf bytes.Buffer
	if err := s.pages.sets[name].ExecuteTemplate(&buf, "layout", ld); err != nil {
		s.log.Error("webui: rendering a page", "page", name, "err", err)
		http.Error(w, "webui: the page did not render", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// wantsJSON reports a request from the app's script, which asks for JSON.
func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

// Timeline.

type timelineData struct {
	Entries  []entryView
	LastSync string
	Error    string
}

type entryView struct {
	ID, Author, Initial, Fingerprint, When, ISO, Text string
	Own                                               bool
	Images, Files                                     []fileView
}

type fileView struct{ URL, Name, Type, Size string }

func (s *Server) timeline(w http.ResponseWriter, r *http.Request) {
	data := timelineData{LastSync: s.lastSyncText()}
	me, err := s.feed.Identity()
	if err != nil {
		data.Error = err.Error()
		s.render(w, r, http.StatusInternalServerError, "timeline", data)
		return
	}
	entries, err := s.feed.Timeline(timelineLimit)
	if err != nil {
		data.Error = err.Error()
	}
	for _, e := range entries {
		data.Entries = append(data.Entries, viewEntry(e, me.Public()))
	}
	s.render(w, r, http.StatusOK, "timeline", data)
}

func viewEntry(e *feed.Entry, me feed.Public) entryView {
	v := entryView{
		ID: e.ID.String(), Author: e.Author.Name, Initial: initial(e.Author.Name), Fingerprint: e.Author.Fingerprint(),
		When: e.Time.Local().Format("Mon 2 Jan 2006, 15:04"), ISO: e.Time.UTC().Format(time.RFC3339),
		Text: e.Text, Own: e.Author.Sign == me.Sign,
	}
	for i, a := range e.Attachments {
		f := fileView{URL: fmt.Sprintf("/attachments/%s/%d", v.ID, i), Name: a.Name, Type: a.Type, Size: humanBytes(len(a.Data))}
		if inlineImage(a) {
			v.Images = append(v.Images, f)
		} else {
			v.Files = append(v.Files, f)
		}
	}
	return v
}

// lastSyncText says when the last sync ended and what it brought.
func (s *Server) lastSyncText() string {
	s.mu.Lock()
	rep, syncing := s.lastSync, s.syncing != nil
	s.mu.Unlock()
	var b strings.Builder
	switch {
	case rep.At.IsZero():
		b.WriteString("not yet")
	case rep.Err != "":
		fmt.Fprintf(&b, "%s, incomplete (%s)", rep.At.Local().Format("15:04:05"), plural(rep.New, "new entry", "new entries"))
	default:
		fmt.Fprintf(&b, "%s (%s)", rep.At.Local().Format("15:04:05"), plural(rep.New, "new entry", "new entries"))
	}
	if syncing {
		b.WriteString("; syncing now")
	}
	return b.String()
}

// Compose.

type composeData struct {
	Error          string
	MaxAttachments int
	MaxBytes       int
}

func newComposeData(errText string) composeData {
	return composeData{Error: errText, MaxAttachments: feed.MaxAttachments, MaxBytes: feed.MaxAttachmentBytes}
}

func (s *Server) compose(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "compose", newComposeData(""))
}

// post handles POST /post: it reads the text and attachments and posts
// them in the background. The app's script asks for JSON and follows the
// job itself; a plain form is redirected to the timeline, which shows the
// job's progress.
func (s *Server) post(w http.ResponseWriter, r *http.Request) {
	u, err := readUpload(r)
	if err != nil {
		s.writeUploadError(w, r, err)
		return
	}
	j, err := s.startPost(u.text, u.attachments)
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	next := "/?job=" + j.id
	if wantsJSON(r) {
		writeJSON(w, http.StatusAccepted, map[string]string{"job": j.id, "next": next})
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// Friends.

type friendsData struct {
	Name, Code, Fingerprint string
	Friends                 []friendView
	Added                   string // the name of the friend just added
	Error                   string
	CodeInput               string // what the user typed, kept on an error
}

type friendView struct{ Name, Initial, Fingerprint string }

func (s *Server) friendsData() (friendsData, error) {
	var d friendsData
	id, err := s.feed.Identity()
	if err != nil {
		return d, err
	}
	d.Name, d.Code, d.Fingerprint = id.Name(), id.FriendCode(), id.Public().Fingerprint()
	friends, err := s.feed.Friends()
	if err != nil {
		return d, err
	}
	for _, p := range friends {
		d.Friends = append(d.Friends, friendView{p.Name, initial(p.Name), p.Fingerprint()})
	}
	return d, nil
}

func (s *Server) friends(w http.ResponseWriter, r *http.Request) {
	d, err := s.friendsData()
	if err != nil {
		d.Error = err.Error()
		s.render(w, r, http.StatusInternalServerError, "friends", d)
		return
	}
	if fp := r.URL.Query().Get("added"); fp != "" {
		for _, f := range d.Friends {
			if f.Fingerprint == fp {
				d.Added = f.Name
			}
		}
	}
	s.render(w, r, http.StatusOK, "friends", d)
}

// addFriend handles POST /friends.
func (s *Server) addFriend(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	code := r.PostForm.Get("code")
	p, err := s.feed.AddFriend(code)
	if err != nil {
		d, derr := s.friendsData()
		d.Error, d.CodeInput = friendError(err), code
		if derr != nil {
			d.Error = derr.Error()
		}
		s.render(w, r, http.StatusBadRequest, "friends", d)
		return
	}
	http.Redirect(w, r, "/friends?added="+p.Fingerprint(), http.StatusSeeOther)
}

func friendError(err error) string {
	switch {
	case errors.Is(err, feed.ErrSelf):
		return "That is your own friend code: add your friend's code here, and give them yours."
	case errors.Is(err, feed.ErrFriendCode):
		return "That friend code does not check out: a typo? Compare it character by character."
	}
	return err.Error()
}

// Status.

type statusData struct {
	Status
	Name        string
	Friends     int
	FriendsText string
	LastSync    string
	Addr        string
	HasStatus   bool
}

func (s *Server) statusData() statusData {
	d := statusData{LastSync: s.lastSyncText(), Addr: s.cfg.Addr}
	if s.cfg.Status != nil {
		d.Status, d.HasStatus = s.cfg.Status(), true
	} else {
		d.Error = "offline: no connection to the network"
	}
	if id, err := s.feed.Identity(); err == nil {
		d.Name = id.Name()
	}
	if friends, err := s.feed.Friends(); err == nil {
		d.Friends = len(friends)
	}
	d.FriendsText = plural(d.Friends, "friend", "friends")
	return d
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "status", s.statusData())
}

// statusJSON handles GET /api/status, which the status page polls.
func (s *Server) statusJSON(w http.ResponseWriter, r *http.Request) {
	d := s.statusData()
	writeJSON(w, http.StatusOK, map[string]any{
		"connected": d.Connected, "gateway": d.Gateway, "tor": d.Tor, "directory": d.Directory,
		"cover": d.Cover, "rates": map[string]float64{"real_or_drop": d.RealOrDropRate, "loop": d.LoopRate, "drop": d.DropRate},
		"sent":    map[string]uint64{"real": d.RealSent, "drop": d.DropSent, "loop": d.LoopSent},
		"pending": d.Pending, "loop_alarm": d.LoopAlarm, "error": d.Error,
		"friends": d.Friends, "last_sync": d.LastSync,
	})
}

//go:embed static
var staticFS embed.FS

// staticFiles serves the embedded script, style sheet and icon at
// /static/, without directory listings.
func staticFiles() http.Handler {
	files := http.FileServerFS(staticFS)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		files.ServeHTTP(w, r)
	})
}

// initial is the first letter of a name, for its avatar.
func initial(name string) string {
	for _, r := range name {
		return strings.ToUpper(string(r))
	}
	return "?"
}

func humanBytes(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
