package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/orbitagent/orbit/updater/repo/s3store"
	"github.com/orbitagent/orbit/updater/repo/s3store/miniotest"
)

func TestCLIPublishBadDestination(t *testing.T) {
	t.Parallel()
	e := env("ORBIT_", nil)
	dir := filepath.Join(t.TempDir(), "tuf")
	mustRun(t, e, "updates", "init", "--path", dir)
	r := run(t, e, "updates", "publish", "--path", dir, "--to", "https://bucket/prefix")
	if r.code == 0 || !strings.Contains(r.stderr, "s3://BUCKET/PREFIX") {
		t.Fatalf("publish to https URL: exit %d, %q", r.code, r.stderr)
	}
}

func TestCLIPublishToMinIO(t *testing.T) {
	t.Parallel()
	endpoint := miniotest.Start(t)
	e := append(env("ORBIT_", nil),
		"AWS_ACCESS_KEY_ID="+miniotest.AccessKey, "AWS_SECRET_ACCESS_KEY="+miniotest.SecretKey,
		"AWS_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE="+filepath.Join(t.TempDir(), "none"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(t.TempDir(), "none"))
	dir := filepath.Join(t.TempDir(), "tuf")
	mustRun(t, e, "updates", "init", "--path", dir, "--consistent-snapshot")
	bin := filepath.Join(t.TempDir(), "fleet-desktop.exe")
	os.WriteFile(bin, []byte(strings.Repeat("MZ", 4096)), 0o644)
	mustRun(t, e, "updates", "add", "--path", dir, "--target", bin, "--name", "desktop", "--platform", "windows", "--version", "1.0.0", "-t", "stable")

	store, err := s3store.New(context.Background(), s3store.Config{Bucket: "cli", Endpoint: endpoint, Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider(miniotest.AccessKey, miniotest.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	miniotest.PublicBucket(t, context.Background(), store.Client(), "cli")
	mustRun(t, e, "updates", "publish", "--path", dir, "--to", "s3://cli/updates", "--endpoint", endpoint)
	for _, name := range []string{"timestamp.json", "root.json", "1.root.json"} {
		resp, err := http.Get(endpoint + "/cli/updates/" + name)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want, _ := os.ReadFile(filepath.Join(dir, "repository", name))
		if resp.StatusCode != 200 || string(got) != string(want) {
			t.Fatalf("GET %s after publish: %d", name, resp.StatusCode)
		}
	}
	// Nothing changed: the second publish uploads nothing.
	r := mustRun(t, e, "updates", "publish", "--path", dir, "--to", "s3://cli/updates", "--endpoint", endpoint)
	if !strings.Contains(r.stderr, `"uploaded":0`) {
		t.Fatalf("republish log: %s", r.stderr)
	}
}
