package rootdir

// CheckPermissions is a no-op on Windows: Program Files carries an ACL that
// only administrators can write, and Go's mode bits do not describe ACLs.
func (l Layout) CheckPermissions() error { return nil }
