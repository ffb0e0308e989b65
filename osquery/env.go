package osquery

import "strings"

// ChildEnv is orbit's environment for osqueryd: the enroll secret is set
// (only when given), and orbit's own secret-bearing variables are dropped
// so they do not leak into a child that does not need them.
func ChildEnv(parent []string, enrollSecret string) []string {
	env := make([]string, 0, len(parent)+1)
	for _, kv := range parent {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case EnrollSecretEnv, "ORBIT_ENROLL_SECRET":
			continue
		}
		env = append(env, kv)
	}
	if enrollSecret != "" {
		env = append(env, EnrollSecretEnv+"="+enrollSecret)
	}
	return env
}
