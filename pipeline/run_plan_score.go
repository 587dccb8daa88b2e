package pipeline

// scoringStages are the score and publish stages of a nightly run. They are
// wired here once the Score and Publish stage functions exist.
func scoringStages(cfg *Config) []Stage {
	_ = cfg
	return nil
}
