// Package s3store uploads a TUF repository to S3 or an S3-compatible store
// (Cloudflare R2, MinIO) for repo.Publish.
package s3store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// Config says where to upload. Credentials come from the usual AWS
// sources (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ...).
type Config struct {
	Bucket string
	Prefix string // key prefix, without leading or trailing '/'
	// Endpoint is the URL of an S3-compatible server; when set, path-style
	// addressing is used (MinIO and most others need it).
	Endpoint string
	Region   string // default: from the environment, else us-east-1
	// Credentials, if set, replace the AWS credential chain (tests, tools
	// that hold keys themselves).
	Credentials aws.CredentialsProvider
}

// ParseURL splits s3://BUCKET/PREFIX.
func ParseURL(s string) (bucket, prefix string, err error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return "", "", fmt.Errorf("invalid destination %q: use s3://BUCKET/PREFIX", s)
	}
	return u.Host, strings.Trim(u.Path, "/"), nil
}

// Store implements repo.ObjectStore.
type Store struct {
	client *s3.Client
	cfg    Config
}

// New loads AWS configuration and returns a Store.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("no bucket given: use --to s3://BUCKET/PREFIX")
	}
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region != "" {
		awsCfg.Region = cfg.Region
	}
	if cfg.Credentials != nil {
		awsCfg.Credentials = cfg.Credentials
	}
	if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
			o.UsePathStyle = true
		}
		// Only send checksums the server asks for: several S3-compatible
		// stores reject the SDK's default CRC32 trailers.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	return &Store{client: client, cfg: cfg}, nil
}

// Client exposes the S3 client (for tests and bucket setup).
func (s *Store) Client() *s3.Client { return s.client }

func (s *Store) key(k string) string {
	if s.cfg.Prefix == "" {
		return k
	}
	return path.Join(s.cfg.Prefix, k)
}

// Put implements repo.ObjectStore.
func (s *Store) Put(ctx context.Context, key string, body io.ReadSeeker, size int64, contentType, cacheControl string) error {
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(s.cfg.Bucket),
		Key:           aws.String(s.key(key)),
		Body:          body,
		ContentLength: aws.Int64(size),
		ContentType:   aws.String(contentType),
		CacheControl:  aws.String(cacheControl),
	})
	if err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", s.cfg.Bucket, s.key(key), err)
	}
	return nil
}

// Stat implements repo.ObjectStore. The ETag of a single-part upload is the
// MD5 of the object; a multipart ETag ("...-N") is not, and is reported as
// unknown.
func (s *Store) Stat(ctx context.Context, key string) (int64, string, bool, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(s.key(key))})
	if err != nil {
		var apiErr smithy.APIError
		if errors.As(err, &apiErr) && (apiErr.ErrorCode() == "NotFound" || apiErr.ErrorCode() == "NoSuchKey") {
			return 0, "", false, nil
		}
		return 0, "", false, fmt.Errorf("head s3://%s/%s: %w", s.cfg.Bucket, s.key(key), err)
	}
	etag := strings.Trim(aws.ToString(out.ETag), `"`)
	if strings.Contains(etag, "-") || len(etag) != 32 {
		etag = ""
	}
	return aws.ToInt64(out.ContentLength), etag, true, nil
}
