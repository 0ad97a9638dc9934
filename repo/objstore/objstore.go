// Package objstore is ringchat's view of an S3-compatible object store: it
// presigns uploads and downloads (media bytes never pass through chatd) and
// checks what was stored. The same code serves AWS S3 and any S3-compatible
// store (versitygw, MinIO, Ceph): see docs/media.md.
package objstore

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/ringchat/ringchat/repo"
)

// Config says where objects live. Empty AccessKey means the AWS default
// credential chain (environment, shared config, instance or pod role).
type Config struct {
	Endpoint  string // "" for AWS S3 itself; e.g. http://127.0.0.1:7070
	Region    string
	Bucket    string
	PathStyle bool // required by most S3-compatible stores
	AccessKey string
	SecretKey string
}

// Store presigns and inspects objects in one bucket.
type Store struct {
	client  *s3.Client
	presign *s3.PresignClient
	bucket  string
}

// New builds a Store from cfg.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("objstore: no bucket configured")
	}
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(cfg.Region)}
	if cfg.AccessKey != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, "")))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("objstore: load AWS config: %w", err)
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
		// Presigned uploads come from clients that send plain bytes; do not
		// make them add SDK checksum headers.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	return &Store{client: client, presign: s3.NewPresignClient(client), bucket: cfg.Bucket}, nil
}

// PresignPut signs an upload of exactly size bytes of contentType: both are
// signed headers, so the store refuses an upload of other bytes.
func (s *Store) PresignPut(ctx context.Context, key, contentType string, size int64, ttl time.Duration) (repo.Presigned, error) {
	req, err := s.presign.PresignPutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.bucket), Key: aws.String(key),
		ContentType: aws.String(contentType), ContentLength: aws.Int64(size),
	}, s3.WithPresignExpires(ttl))
	if err != nil {
		return repo.Presigned{}, translate("presign put", err)
	}
	headers := map[string]string{}
	for name, vals := range req.SignedHeader {
		if !strings.EqualFold(name, "host") && len(vals) > 0 {
			headers[http.CanonicalHeaderKey(name)] = vals[0]
		}
	}
	return repo.Presigned{URL: req.URL, Headers: headers, Expires: time.Now().Add(ttl).UTC()}, nil
}

// PresignGet signs a download.
func (s *Store) PresignGet(ctx context.Context, key string, ttl time.Duration) (repo.Presigned, error) {
	req, err := s.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)},
		s3.WithPresignExpires(ttl))
	if err != nil {
		return repo.Presigned{}, translate("presign get", err)
	}
	return repo.Presigned{URL: req.URL, Headers: map[string]string{}, Expires: time.Now().Add(ttl).UTC()}, nil
}

// Head describes a stored object; CodeNotFound when there is none.
func (s *Store) Head(ctx context.Context, key string) (repo.Object, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return repo.Object{}, translate("head object", err)
	}
	return repo.Object{Size: aws.ToInt64(out.ContentLength), ContentType: aws.ToString(out.ContentType)}, nil
}

// Delete removes an object (no error if it is already gone).
func (s *Store) Delete(ctx context.Context, key string) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	return translate("delete object", err)
}

// translate maps store errors to the project's codes, once, here.
func translate(op string, err error) error {
	if err == nil {
		return nil
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "NotFound", "NoSuchKey", "NoSuchBucket":
			return &repo.Error{Code: repo.CodeNotFound, Message: "object not found", Cause: fmt.Errorf("%s: %w", op, err)}
		}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return &repo.Error{Code: repo.CodeUnavailable, Message: "object store unavailable, retry later", Cause: fmt.Errorf("%s: %w", op, err)}
	}
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) && re.HTTPStatusCode() < 500 {
		// 4xx from the store on our own signed call: credentials or bucket misconfigured.
		return &repo.Error{Code: repo.CodeInternal, Message: "internal error", Cause: fmt.Errorf("%s: %w", op, err)}
	}
	// 5xx, refused connections, timeouts: the store is away.
	return &repo.Error{Code: repo.CodeUnavailable, Message: "object store unavailable, retry later", Cause: fmt.Errorf("%s: %w", op, err)}
}
