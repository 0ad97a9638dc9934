// Command mkbucket creates an S3 bucket if it does not exist yet (path-style,
// static credentials from ROOT_ACCESS_KEY / ROOT_SECRET_KEY): the local stack's
// media bucket. It also lets browsers upload to it: a web app PUTs to a
// presigned URL from another origin than the store's (docs/media.md).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func main() {
	endpoint := flag.String("endpoint", "http://127.0.0.1:7070", "S3 endpoint")
	bucket := flag.String("bucket", "ringchat-media", "bucket to create")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: endpoint,
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(os.Getenv("ROOT_ACCESS_KEY"), os.Getenv("ROOT_SECRET_KEY"), ""),
	})
	_, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(*bucket)})
	var owned *types.BucketAlreadyOwnedByYou
	var exists *types.BucketAlreadyExists
	if err != nil && !errors.As(err, &owned) && !errors.As(err, &exists) {
		fmt.Fprintf(os.Stderr, "mkbucket: create %s at %s: %v\n", *bucket, *endpoint, err)
		os.Exit(1)
	}
	// Any origin: chatd runs on a port of the day here (tests pick free ones).
	// Production buckets name their app's origin (docs/media.md).
	_, err = client.PutBucketCors(ctx, &s3.PutBucketCorsInput{Bucket: aws.String(*bucket), CORSConfiguration: &types.CORSConfiguration{
		CORSRules: []types.CORSRule{{
			AllowedOrigins: []string{"*"},
			AllowedMethods: []string{"GET", "HEAD", "PUT"},
			AllowedHeaders: []string{"*"},
			ExposeHeaders:  []string{"ETag"},
			MaxAgeSeconds:  aws.Int32(600),
		}},
	}})
	if err != nil {
		fmt.Fprintf(os.Stderr, "mkbucket: CORS of %s at %s: %v\n", *bucket, *endpoint, err)
		os.Exit(1)
	}
	fmt.Printf("s3: bucket %s ready (browser uploads from any origin)\n", *bucket)
}
