package template

// Runaways is how many timed-out executions are still running.
func Runaways() int32 { return runaways.Load() }
