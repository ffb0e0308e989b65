package rootdir

// OwnerOnlySDDL is the Windows ACL of a secret (the enroll secret, the node
// key): SYSTEM and Administrators only, protected from inheritance. Windows
// ignores Go's 0600, and everything under C:\Program Files inherits
// "BUILTIN\Users: read & execute", so without it every local user could read
// the secret. The msi puts it on the files it installs with a 0600 mode;
// ProtectSecret puts it on a file orbit finds or writes.
const OwnerOnlySDDL = "D:P(A;;FA;;;SY)(A;;FA;;;BA)"
