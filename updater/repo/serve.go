package repo

import (
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
)

// Cache-Control values for published files. Mutable names get a short
// lifetime so clients see a new timestamp within a minute; content-addressed
// names (N.role.json, hash-prefixed targets) never change and cache forever.
const (
	CacheShort     = "public, max-age=60"
	CacheImmutable = "public, max-age=31536000, immutable"
	CacheNoCache   = "no-cache"
)

var (
	versionedMetaRe = regexp.MustCompile(`^[0-9]+\.(root|targets|snapshot)\.json$`)
	hashPrefixedRe  = regexp.MustCompile(`^([0-9a-f]{64}|[0-9a-f]{128})\.`)
)

// CacheControl returns the Cache-Control header for a published path
// (relative to repository/, with '/'). Without consistent snapshots a
// target name is rewritten in place, so it must be revalidated.
func CacheControl(rel string) string {
	base := path.Base(rel)
	if strings.HasPrefix(rel, TargetsDir+"/") {
		if hashPrefixedRe.MatchString(base) {
			return CacheImmutable
		}
		return CacheNoCache
	}
	if versionedMetaRe.MatchString(base) {
		return CacheImmutable
	}
	return CacheShort
}

// RepositoryPath returns the published folder of dir: dir/repository for
// an orbitctl directory, dir itself if it already holds root.json.
func RepositoryPath(dir string) string {
	if _, err := os.Stat(filepath.Join(dir, MarkerFile)); err == nil {
		return filepath.Join(dir, RepositoryDir)
	}
	return dir
}

// Handler serves the published part of a repository (for development and
// tests): plain files only, no listings, no dot files, with the same cache
// headers Publish sets.
func Handler(dir string) http.Handler {
	root := RepositoryPath(dir)
	fs := http.FileServer(http.Dir(root))
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		rel := strings.TrimPrefix(path.Clean("/"+req.URL.Path), "/")
		if rel == "" || strings.HasSuffix(req.URL.Path, "/") || hasDotPart(rel) {
			http.NotFound(w, req)
			return
		}
		st, err := os.Stat(filepath.Join(root, filepath.FromSlash(rel)))
		if err != nil || !st.Mode().IsRegular() {
			http.NotFound(w, req)
			return
		}
		w.Header().Set("Cache-Control", CacheControl(rel))
		fs.ServeHTTP(w, req)
	})
}

func hasDotPart(rel string) bool {
	for _, p := range strings.Split(rel, "/") {
		if strings.HasPrefix(p, ".") {
			return true
		}
	}
	return false
}
