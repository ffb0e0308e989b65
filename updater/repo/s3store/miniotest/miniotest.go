// Package miniotest starts a real MinIO server for tests.
package miniotest

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/orbitagent/orbit/internal/testbin"
)

// Credentials of the servers Start runs.
const (
	AccessKey = "orbittest"
	SecretKey = "orbittest-secret"
)

// Binary returns the MinIO server binary: $ORBIT_TEST_CACHE/bin/minio
// (default ~/.cache/orbit-test/bin/minio). It skips the test when missing,
// or fails it when CI=true.
func Binary(t testing.TB) string {
	t.Helper()
	cache := os.Getenv("ORBIT_TEST_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "orbit-test")
	}
	bin := filepath.Join(cache, "bin", "minio")
	if _, err := os.Stat(bin); err != nil {
		testbin.Unavailable(t, "MinIO server not found at %s (make test-deps builds it there)", bin)
	}
	return bin
}

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Start runs MinIO on 127.0.0.1 with a temporary data directory until the
// test ends, and returns its endpoint URL.
func Start(t testing.TB) string {
	t.Helper()
	bin := Binary(t)
	addr, console := freeAddr(t), freeAddr(t)
	cmd := exec.Command(bin, "server", "--quiet", "--address", addr, "--console-address", console, t.TempDir())
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+AccessKey, "MINIO_ROOT_PASSWORD="+SecretKey, "MINIO_BROWSER=off")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start MinIO: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	endpoint := "http://" + addr
	// Readiness poll, not a timing assertion: up to a minute on a busy host.
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(endpoint + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return endpoint
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("MinIO did not become ready: %s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// PublicBucket creates bucket with a policy letting anyone GET its
// objects, as a CDN-fronted update bucket does.
func PublicBucket(t testing.TB, ctx context.Context, client *s3.Client, bucket string) {
	t.Helper()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":["s3:GetObject"],"Resource":["arn:aws:s3:::` + bucket + `/*"]}]}`
	if _, err := client.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: aws.String(policy)}); err != nil {
		t.Fatalf("set public-read policy: %v", err)
	}
}
