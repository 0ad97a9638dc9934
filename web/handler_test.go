package web

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "index.html"), []byte("<!doctype html>app"), 0o644))
	must(t, os.MkdirAll(filepath.Join(dir, "assets", "sub"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "assets", "main-abc.js"), []byte("console.log(1)"), 0o644))
	outside := filepath.Join(filepath.Dir(dir), "secret.txt")
	must(t, os.WriteFile(outside, []byte("secret"), 0o644))
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(299) })
	h, err := Handler(dir, api, "http://127.0.0.1:7070")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		method, path string
		status       int
		body, cache  string
	}{
		{"GET", "/app/", 200, "app", "no-cache"},
		{"GET", "/app/index.html", 200, "app", "no-cache"},
		{"HEAD", "/app/", 200, "", "no-cache"},
		{"GET", "/app", 301, "", ""},
		{"GET", "/app/assets/main-abc.js", 200, "console.log(1)", "immutable"},
		{"GET", "/app/assets/", 404, "", ""},     // no listing
		{"GET", "/app/assets/sub/", 404, "", ""}, // nor of an empty folder
		{"GET", "/app/missing.js", 404, "", ""},
		{"GET", "/app/../secret.txt", 404, "", ""},
		{"GET", "/app/%2e%2e/secret.txt", 404, "", ""},
		{"POST", "/app/", 405, "", ""},
		{"GET", "/v1/me", 299, "", ""}, // not the app's: the API
		{"GET", "/application", 299, "", ""},
	}
	for _, c := range cases {
		req := httptest.NewRequest(c.method, "http://x"+c.path, nil)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != c.status || (c.body != "" && !strings.Contains(rec.Body.String(), c.body)) || strings.Contains(rec.Body.String(), "secret") {
			t.Errorf("%s %s: %d %q; want %d with %q", c.method, c.path, rec.Code, rec.Body.String(), c.status, c.body)
		}
		if c.cache != "" && !strings.Contains(rec.Header().Get("Cache-Control"), c.cache) {
			t.Errorf("%s %s: Cache-Control %q; want %q", c.method, c.path, rec.Header().Get("Cache-Control"), c.cache)
		}
		if c.status == 200 && (rec.Header().Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(rec.Header().Get("Content-Security-Policy"), "default-src 'self'")) {
			t.Errorf("%s %s: security headers missing: %v", c.method, c.path, rec.Header())
		}
	}
	if csp := httptest.NewRecorder(); true {
		h.ServeHTTP(csp, httptest.NewRequest("GET", "http://x/app/", nil))
		if got := csp.Header().Get("Content-Security-Policy"); !strings.Contains(got, "connect-src 'self' http://127.0.0.1:7070;") || strings.Contains(got, "https:;") {
			t.Errorf("CSP %q: want the media origin and no scheme-wide source", got)
		}
	}
	if _, err := Handler(dir, api, "https://x; script-src *"); err == nil {
		t.Error("a media origin that would inject a CSP directive was accepted")
	}
	if _, err := Handler(t.TempDir(), api, ""); err == nil || !strings.Contains(err.Error(), "no index.html") {
		t.Fatalf("a folder without index.html: %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
