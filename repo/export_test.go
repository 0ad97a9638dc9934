package repo

// SetRoleHook makes SetRole run f between its read of the membership and
// its write of the role; nil resets it (tests only).
func SetRoleHook(f func()) { roleSetHook = f }
