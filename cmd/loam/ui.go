package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"runtime"
	"time"

	"loam/cmd/loam/webui"
)

// uiSyncInterval is how often `loam ui` syncs on its own.
const uiSyncInterval = 30 * time.Second

// cmdUI serves the web interface on a loopback address until SIGINT or
// SIGTERM, keeping the gateway link and cover traffic running and syncing
// every uiSyncInterval.
func cmdUI(g *globals, args []string) error {
	fset := flag.NewFlagSet("ui", flag.ContinueOnError)
	listen := fset.String("listen", "127.0.0.1:0", "loopback address and port to serve on (port 0: a random one)")
	open := fset.Bool("open", false, "open the URL in your web browser")
	pos, err := flags(fset, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	host, _, err := net.SplitHostPort(*listen)
	if err != nil {
		return usagef("--listen: want HOST:PORT, such as 127.0.0.1:8080: %v", err)
	}
	if !webui.IsLoopback(host) {
		return usagef("--listen: %s is not a loopback address: the UI holds your keys and serves this machine only (use 127.0.0.1 or [::1])", host)
	}

	ctx, stop := commandContext()
	defer stop()
	fmt.Fprintln(g.stderr, "Connecting to the network…")
	s, err := connect(ctx, g)
	if err != nil {
		return err
	}
	defer s.close()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", *listen, err)
	}
	token, err := webui.NewToken()
	if err != nil {
		ln.Close()
		return err
	}
	ui, err := webui.New(webui.Config{
		Feed: s.feed, Addr: ln.Addr().String(), Token: token,
		Status:       func() webui.Status { return webui.ClientStatus(s.mc, g.tor) },
		SyncInterval: uiSyncInterval, Logger: g.log,
	})
	if err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{Handler: ui, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(g.log.Handler(), slog.LevelWarn)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	url := "http://" + ln.Addr().String() + "/?token=" + token
	if g.json {
		if err := printJSON(g, map[string]string{"url": url}); err != nil {
			return err
		}
	} else {
		printf(g, "Loam is at\n\n  %s\n\nOpen it in a browser on this machine; the link holds a secret, so keep it to yourself.\nThis program must keep running; Ctrl-C stops it.\n", url)
	}
	if *open {
		if err := openBrowser(url); err != nil {
			fmt.Fprintf(g.stderr, "loam ui: could not open a browser (%v); open the URL above yourself\n", err)
		}
	}

	select {
	case <-ctx.Done():
	case err = <-served:
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(shutdown)
	ui.Close()
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving: %w", err)
	}
	fmt.Fprintln(g.stderr, "Stopped.")
	return nil
}

// openBrowser asks the desktop to open url in the user's browser.
func openBrowser(url string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", url)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", url)
	default:
		cmd = exec.Command("xdg-open", url)
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait()
	return nil
}
