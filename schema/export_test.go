package schema

import "errors"

// FailAfter makes Migrate stop with an error right after version's statement
// number stmt (1-based) is applied, as a crash there would; nil resets it.
func FailAfter(version string, stmt int) {
	if version == "" {
		afterStatement = nil
		return
	}
	afterStatement = func(v string, i int) error {
		if v == version && i == stmt {
			return errCrash
		}
		return nil
	}
}

var errCrash = errors.New("simulated crash")
