package agent

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/internal/logcapture"
	"github.com/orbitagent/orbit/rootdir"
)

// Under the Windows SCM the agent sets its service's recovery actions and
// protects the secret files that exist; a failure of either is a warning,
// never a stop.
func TestSecureService(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	layout := rootdir.Layout{Root: root}
	secret := filepath.Join(root, "secret.txt")
	if err := os.WriteFile(secret, []byte("s"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name      string
		cfg       Config
		nodeKey   bool
		fail      bool
		protected []string
	}{
		{"secret file, no node key yet", Config{Layout: layout, EnrollSecretPath: secret}, false, false, []string{secret}},
		{"secret and node key", Config{Layout: layout, EnrollSecretPath: secret}, true, false, []string{secret, layout.NodeKey()}},
		{"secret from the environment", Config{Layout: layout}, false, false, nil},
		{"hooks fail", Config{Layout: layout, EnrollSecretPath: secret}, false, true, []string{secret}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// Not parallel: the cases share the node key file.
			os.Remove(layout.NodeKey())
			if tt.nodeKey {
				if err := os.WriteFile(layout.NodeKey(), []byte("k"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			var services, protected []string
			h := serviceHooks{
				recovery: func(s string) error {
					services = append(services, s)
					if tt.fail {
						return errors.New("access denied")
					}
					return nil
				},
				protect: func(p string) error {
					protected = append(protected, p)
					if tt.fail {
						return errors.New("access denied")
					}
					return nil
				},
			}
			var logs logcapture.Buffer
			secureService(tt.cfg, "orbit", zerolog.New(&logs), h)
			if !slices.Equal(services, []string{"orbit"}) {
				t.Errorf("recovery actions set for %v, want [orbit]", services)
			}
			if !slices.Equal(protected, tt.protected) {
				t.Errorf("protected %v, want %v", protected, tt.protected)
			}
			if got := strings.Count(logs.String(), `"level":"warn"`); tt.fail && got != 2 || !tt.fail && got != 0 {
				t.Errorf("%d warnings:\n%s", got, logs.String())
			}
		})
	}
}
