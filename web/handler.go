// Package web serves the web app (the front end in this folder, built by
// `make web` into web/dist) under /app/ on chatd's public listener, when
// --web-dir names the built folder. It is read from disk, not embedded: a Go
// build then needs no Node, and no built files are committed.
package web

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path"
	"strings"
)

// Prefix is where the app is served.
const Prefix = "/app/"

// Handler serves the built app in dir under Prefix and passes every other
// request to next. The folder must hold an index.html. mediaOrigin is where
// presigned media URLs point (space-separated scheme://host sources, or
// patterns such as https://*.amazonaws.com): the one other origin the page may reach.
func Handler(dir string, next http.Handler, mediaOrigin string) (http.Handler, error) {
	if strings.ContainsAny(mediaOrigin, ";,'\"\n\r") {
		return nil, fmt.Errorf("media origin %q cannot be put in a Content-Security-Policy", mediaOrigin)
	}
	csp := fmt.Sprintf("default-src 'self'; img-src 'self' blob: %[1]s; connect-src 'self' %[1]s; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'", mediaOrigin)
	root := os.DirFS(dir)
	if st, err := fs.Stat(root, "index.html"); err != nil || st.IsDir() {
		return nil, fmt.Errorf("web app folder %s has no index.html (make web builds it): %v", dir, err)
	}
	files := http.FileServerFS(root)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == strings.TrimSuffix(Prefix, "/") {
			http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
			return
		}
		name, ok := strings.CutPrefix(r.URL.Path, Prefix)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name = strings.TrimPrefix(path.Clean("/"+name), "/")
		if name == "" || name == "." {
			name = "index.html"
		}
		// Only files: no directory listings, and no FileServer redirects.
		if st, err := fs.Stat(root, name); err != nil || st.IsDir() {
			if err == nil || errors.Is(err, fs.ErrNotExist) {
				http.NotFound(w, r)
			} else {
				http.Error(w, "unreadable", http.StatusInternalServerError)
			}
			return
		}
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		// Everything from here; images and uploads also from the media store,
		// whose presigned URLs are on its own origin. 'self' covers the
		// same-origin WebSocket.
		h.Set("Content-Security-Policy", csp)
		if name == "index.html" {
			h.Set("Cache-Control", "no-cache")
		} else if strings.HasPrefix(name, "assets/") {
			h.Set("Cache-Control", "public, max-age=31536000, immutable") // names carry their content hash
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/" + name
		if name == "index.html" {
			r2.URL.Path = "/" // FileServer answers /index.html with a redirect to ./
		}
		files.ServeHTTP(w, r2)
	}), nil
}
