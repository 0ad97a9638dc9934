package api_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ringchat/ringchat/api"
	"github.com/ringchat/ringchat/delivery/ws"
	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/repo/objstore"
)

// Media tests talk to the real S3-compatible server that `make test` starts
// (versitygw, which checks SigV4 and presigned URLs), through plain HTTP as a
// client would.

func s3Config() objstore.Config {
	get := func(k, def string) string {
		if v := os.Getenv(k); v != "" {
			return v
		}
		return def
	}
	return objstore.Config{Endpoint: get("RINGCHAT_S3_ENDPOINT", "http://127.0.0.1:7070"), Region: get("RINGCHAT_S3_REGION", "us-east-1"),
		Bucket: get("RINGCHAT_S3_BUCKET", "ringchat-media"), PathStyle: true,
		AccessKey: get("RINGCHAT_S3_ACCESS_KEY", "ringchat"), SecretKey: get("RINGCHAT_S3_SECRET_KEY", "ringchat-dev-secret")}
}

func testObjects(t testing.TB) *objstore.Store {
	t.Helper()
	s, err := objstore.New(context.Background(), s3Config())
	if err != nil {
		t.Fatalf("object store: %v", err)
	}
	return s
}

// upload declares and PUTs body through the presigned URL; returns the media id.
func (c *client) upload(contentType string, body []byte, purpose string) string {
	c.t.Helper()
	r := c.do("POST", "/v1/media", map[string]any{"content_type": contentType, "size": len(body), "purpose": purpose})
	expect(c.t, r, 201)
	put(c.t, r, body, 200)
	id := r.body["media_id"].(string)
	expect(c.t, c.do("POST", "/v1/media/"+id+"/complete", nil), 200)
	return id
}

// put sends body to a presigned upload with the headers the API said to send.
func put(t testing.TB, created resp, body []byte, want int, override ...string) {
	t.Helper()
	req, _ := http.NewRequest("PUT", created.body["upload_url"].(string), bytes.NewReader(body))
	for k, v := range created.body["upload_headers"].(map[string]any) {
		if strings.EqualFold(k, "Content-Length") {
			continue // net/http sets it from the body
		}
		req.Header.Set(k, v.(string))
	}
	for i := 0; i+1 < len(override); i += 2 {
		req.Header.Set(override[i], override[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != want {
		t.Fatalf("PUT to presigned URL: %d, want %d: %s", res.StatusCode, want, msg)
	}
}

func fetch(t testing.TB, url string) (int, []byte) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

func TestMediaUploadSendDownload(t *testing.T) {
	e := newEnv(t)
	a, b, outsider := e.newUser("ma"), e.newUser("mb"), e.newUser("mo")
	conv := a.direct(b)
	photo := bytes.Repeat([]byte{0xff, 0xd8, 0xff, 0xe0}, 5000) // 20,000 bytes "JPEG"

	id := a.upload("image/jpeg", photo, "message")
	r := a.do("POST", "/v1/conversations/"+conv+"/messages", map[string]any{"client_msg_id": "m1", "body": "", "media_ids": []string{id}})
	expect(t, r, 201)
	media := r.body["message"].(map[string]any)["media"].([]any)
	if len(media) != 1 || media[0].(map[string]any)["id"] != id || media[0].(map[string]any)["size"] != float64(len(photo)) {
		t.Fatalf("message media: %s", r.raw)
	}
	h := b.do("GET", "/v1/conversations/"+conv+"/messages", nil)
	if !strings.Contains(string(h.raw), `"content_type":"image/jpeg"`) {
		t.Fatalf("history lacks the media descriptor: %s", h.raw)
	}

	t.Run("member downloads the bytes", func(t *testing.T) {
		r := b.do("GET", "/v1/media/"+id, nil)
		expect(t, r, 200)
		st, got := fetch(t, r.body["download_url"].(string))
		if st != 200 || !bytes.Equal(got, photo) {
			t.Fatalf("download: %d, %d bytes", st, len(got))
		}
	})
	t.Run("non-member gets no URL", func(t *testing.T) {
		expect(t, outsider.do("GET", "/v1/media/"+id, nil), 403, "permission_denied")
	})
	t.Run("tampered URL is refused by the store", func(t *testing.T) {
		u := b.do("GET", "/v1/media/"+id, nil).body["download_url"].(string)
		i := strings.Index(u, "X-Amz-Signature=") + len("X-Amz-Signature=")
		flip := "0"
		if u[i] == '0' {
			flip = "1"
		}
		if st, _ := fetch(t, u[:i]+flip+u[i+1:]); st != 403 {
			t.Fatalf("tampered signature: %d", st)
		}
		other := strings.Replace(u, "/"+id, "/"+id+"x", 1)
		if st, _ := fetch(t, other); st != 403 {
			t.Fatalf("URL pointed at another key: %d", st)
		}
	})
	t.Run("someone else's media cannot be attached", func(t *testing.T) {
		r := b.do("POST", "/v1/conversations/"+conv+"/messages", map[string]any{"client_msg_id": "m2", "body": "mine now", "media_ids": []string{id}})
		expect(t, r, 400, "invalid_argument")
	})
}

func TestMediaUploadIsBoundToItsDeclaration(t *testing.T) {
	e := newEnv(t)
	a := e.newUser("mu")
	body := []byte("%PDF-1.7 a small document")
	declare := func(ct string, size int) resp {
		return a.do("POST", "/v1/media", map[string]any{"content_type": ct, "size": size})
	}
	t.Run("declaration bounds", func(t *testing.T) {
		expect(t, declare("application/x-msdownload", 10), 400, "invalid_argument")
		expect(t, declare("image/png", 0), 400, "invalid_argument")
		expect(t, declare("video/mp4", 16<<20+1), 413, "too_large")
		expect(t, a.do("POST", "/v1/media", map[string]any{"content_type": "text/plain", "size": 3, "purpose": "avatar"}), 400, "invalid_argument")
	})
	t.Run("more bytes than declared", func(t *testing.T) {
		put(t, declare("application/pdf", len(body)), append(body, '!'), 403)
	})
	t.Run("another content type", func(t *testing.T) {
		put(t, declare("application/pdf", len(body)), body, 403, "Content-Type", "image/png")
	})
	t.Run("not uploaded yet", func(t *testing.T) {
		r := declare("application/pdf", len(body))
		expect(t, a.do("POST", "/v1/media/"+r.body["media_id"].(string)+"/complete", nil), 400, "invalid_argument")
		conv := a.direct(e.newUser("mv"))
		r2 := a.do("POST", "/v1/conversations/"+conv+"/messages", map[string]any{"client_msg_id": "x", "body": "b", "media_ids": []string{r.body["media_id"].(string)}})
		expect(t, r2, 400, "invalid_argument")
		if !strings.Contains(string(r2.raw), "not complete") {
			t.Fatalf("incomplete media refused for the wrong reason: %s", r2.raw)
		}
	})
	t.Run("a stored object that does not match is refused and deleted", func(t *testing.T) {
		r := declare("application/pdf", len(body))
		id := r.body["media_id"].(string)
		// Write other bytes at the key behind the API's back (a store that did not enforce the signature).
		objects := testObjects(t)
		wrong, err := objects.PresignPut(context.Background(), "media/"+a.userID+"/"+id, "application/pdf", 3, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		put(t, resp{body: map[string]any{"upload_url": wrong.URL, "upload_headers": toAny(wrong.Headers)}}, []byte("abc"), 200)
		expect(t, a.do("POST", "/v1/media/"+id+"/complete", nil), 400, "invalid_argument")
		if _, err := objects.Head(context.Background(), "media/"+a.userID+"/"+id); !repo.IsCode(err, repo.CodeNotFound) {
			t.Fatalf("mismatched object not deleted: %v", err)
		}
	})
	t.Run("only the owner completes", func(t *testing.T) {
		r := declare("application/pdf", len(body))
		expect(t, e.newUser("mx").do("POST", "/v1/media/"+r.body["media_id"].(string)+"/complete", nil), 403, "permission_denied")
	})
}

func TestExpiredUploadURLIsRefused(t *testing.T) {
	e := newEnv(t, func(c *api.Config, _ *repo.Retention, _ *ws.Config) { c.Media.UploadTTL = time.Second })
	a := e.newUser("me")
	r := a.do("POST", "/v1/media", map[string]any{"content_type": "text/plain", "size": 5})
	expect(t, r, 201)
	time.Sleep(2100 * time.Millisecond) // past the URL's 1 s expiry: a PUT polling for it would upload
	put(t, r, []byte("hello"), 403)
}

func TestAvatar(t *testing.T) {
	e := newEnv(t)
	a, stranger := e.newUser("av"), e.newUser("as")
	png := bytes.Repeat([]byte{0x89, 'P', 'N', 'G'}, 100)
	id := a.upload("image/png", png, "avatar")
	expect(t, a.do("PATCH", "/v1/me", map[string]any{"avatar_media_id": id}), 200)
	r := stranger.do("GET", "/v1/users/"+a.userID, nil)
	if r.body["user"].(map[string]any)["avatar_media_id"] != id {
		t.Fatalf("profile: %s", r.raw)
	}
	// Anyone signed in may fetch an avatar.
	d := stranger.do("GET", "/v1/media/"+id, nil)
	expect(t, d, 200)
	if st, got := fetch(t, d.body["download_url"].(string)); st != 200 || !bytes.Equal(got, png) {
		t.Fatalf("avatar download %d", st)
	}
	msgMedia := a.upload("image/png", png, "message")
	expect(t, a.do("PATCH", "/v1/me", map[string]any{"avatar_media_id": msgMedia}), 400, "invalid_argument")
	expect(t, stranger.do("PATCH", "/v1/me", map[string]any{"avatar_media_id": id}), 400, "invalid_argument")
}

func toAny(m map[string]string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func TestGroupPhoto(t *testing.T) {
	e := newEnv(t)
	owner, member, stranger := e.newUser("gpo"), e.newUser("gpm"), e.newUser("gps")
	jpg := bytes.Repeat([]byte{0xff, 0xd8}, 300)
	photo := owner.upload("image/jpeg", jpg, "group_photo")
	r := owner.do("POST", "/v1/conversations", map[string]any{"kind": "group", "name": "pics", "member_ids": []string{member.userID}, "photo_media_id": photo})
	expect(t, r, 201)
	conv := r.body["conversation"].(map[string]any)
	if conv["photo_media_id"] != photo {
		t.Fatalf("group photo: %s", r.raw)
	}
	// A group photo is public to signed-in users, like an avatar.
	d := stranger.do("GET", "/v1/media/"+photo, nil)
	expect(t, d, 200)
	if st, got := fetch(t, d.body["download_url"].(string)); st != 200 || !bytes.Equal(got, jpg) {
		t.Fatalf("group photo download %d", st)
	}
	second := owner.upload("image/jpeg", jpg, "group_photo")
	expect(t, owner.do("PATCH", "/v1/conversations/"+conv["id"].(string), map[string]any{"photo_media_id": second}), 200)
	msgMedia := owner.upload("image/jpeg", jpg, "message")
	expect(t, owner.do("PATCH", "/v1/conversations/"+conv["id"].(string), map[string]any{"photo_media_id": msgMedia}), 400, "invalid_argument")
	theirs := member.upload("image/jpeg", jpg, "group_photo")
	expect(t, owner.do("PATCH", "/v1/conversations/"+conv["id"].(string), map[string]any{"photo_media_id": theirs}), 400, "invalid_argument")
}
