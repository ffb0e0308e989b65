//go:build !windows

package interop_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/orbitagent/orbit/updater/repo"
	"github.com/orbitagent/orbit/updater/repo/s3store"
	"github.com/orbitagent/orbit/updater/repo/s3store/miniotest"
)

// TestUpdaterFromMinIO publishes repositories made by updater/repo to a real
// MinIO with s3store, and updates from the bucket's plain HTTP URL, as
// agents do from a CDN-fronted bucket.
func TestUpdaterFromMinIO(t *testing.T) {
	t.Parallel()
	endpoint := miniotest.Start(t)
	ctx := context.Background()
	// Static keys instead of t.Setenv, so subtests can run in parallel.
	creds := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: miniotest.AccessKey, SecretAccessKey: miniotest.SecretKey, Source: "miniotest"}, nil
	})

	for _, consistent := range []bool{false, true} {
		t.Run(fmt.Sprintf("consistent=%v", consistent), func(t *testing.T) {
			t.Parallel()
			bucket := fmt.Sprintf("orbit-updates-%v", consistent)
			const prefix = "tuf/stable"
			store, err := s3store.New(ctx, s3store.Config{Bucket: bucket, Prefix: prefix, Endpoint: endpoint, Region: "us-east-1", Credentials: creds})
			if err != nil {
				t.Fatal(err)
			}
			miniotest.PublicBucket(t, ctx, store.Client(), bucket)

			f := newFixture(t, consistent, nil)
			if f.r.Consistent() != consistent {
				t.Fatalf("repository consistent snapshots %v, want %v", f.r.Consistent(), consistent)
			}
			publish := func() {
				t.Helper()
				res, err := f.r.Publish(ctx, store, repo.PublishOptions{SkipUnchanged: true})
				if err != nil || res.Uploaded == 0 {
					t.Fatalf("publish to MinIO: %+v %v", res, err)
				}
			}
			f.add("1.0.0", "stable")
			publish()
			u := f.newUpdater(endpoint+"/"+bucket+"/"+prefix, nil)

			for _, step := range []struct {
				name    string
				publish func()
				want    string
			}{
				{"first install", func() {}, "osqueryd version 1.0.0"},
				{"v2 published", func() { f.add("2.0.0", "stable"); publish() }, "osqueryd version 2.0.0"},
			} {
				step.publish()
				res, err := u.Check(ctx)
				if err != nil || !slices.Equal(res.Installed, []string{"osqueryd"}) {
					t.Fatalf("%s: %+v %v", step.name, res, err)
				}
				if got := running(t, u); got != step.want {
					t.Fatalf("%s: running %q, want %q", step.name, got, step.want)
				}
			}
			if res, err := u.Check(ctx); err != nil || !slices.Equal(res.Unchanged, []string{"osqueryd"}) {
				t.Fatalf("check after v2: %+v %v", res, err)
			}
			// With consistent snapshots only hash-prefixed target names are
			// in the bucket, so the installs above used them.
			_, _, plain, err := store.Stat(ctx, "targets/osqueryd/linux/stable/osqueryd")
			if err != nil || plain == consistent {
				t.Fatalf("plain target name in bucket: %v (err %v), want %v", plain, err, !consistent)
			}
			if n := f.rs.count(); n != 2 {
				t.Fatalf("%d restarts, want 2", n)
			}
		})
	}
}
