// Package webtest builds the web app and runs its browser tests (web/test,
// headless Debian Chromium under playwright-core) against a real chatd that
// serves it, the dev Cassandra node and the S3 server. Chromium comes from
// `make browser` (part of make test); without it the test fails.
package webtest

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ringchat/ringchat/internal/testcluster"
	"github.com/ringchat/ringchat/repo/cqltest"
	"github.com/ringchat/ringchat/schema"
)

func webDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "web")
}

func TestWebAppInChromium(t *testing.T) {
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("no Chromium at %s (make browser installs Debian's): %v", chromium, err)
	}
	if os.Getenv("RINGCHAT_S3_ENDPOINT") == "" {
		t.Fatal("RINGCHAT_S3_ENDPOINT is not set: run through make test, which starts the S3 server and sets it")
	}
	testcluster.NPM(t, webDir(), nil, "ci", "--no-audit", "--no-fund")
	testcluster.NPM(t, webDir(), nil, "run", "build")
	_, ks := cqltest.NewKeyspace(t, schema.Settings{MessageBucket: time.Hour, InboxBucket: time.Hour})
	node := testcluster.Start(t, map[string]string{
		"RINGCHAT_CASSANDRA_HOSTS": strings.Join(cqltest.Hosts(), ","),
		"RINGCHAT_KEYSPACE":        ks,
		"RINGCHAT_WEB_DIR":         filepath.Join(webDir(), "dist"),
	})
	out := filepath.Join(webDir(), "test-output")
	testcluster.NPM(t, webDir(), []string{"APP_URL=" + node.URL + "/app/", "OUT_DIR=" + out, "CHROMIUM=" + chromium}, "test")
	for _, scene := range []string{"1-chat-list-unread", "2-dm-live-typing-read", "3-back-online", "4-group-of-three", "5-image", "6-contacts-and-blocks"} {
		if st, err := os.Stat(filepath.Join(out, scene+".png")); err != nil || st.Size() == 0 {
			t.Errorf("screenshot %s: %v", scene, err)
		}
	}
	t.Logf("screenshots in %s", out)
}
