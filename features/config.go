package features

// ChurnConfig is the `churn:` section of the config: what churn means for
// this business (non-contractual orders or contractual subscriptions), the
// horizon and the lookback that decides eligibility.
type ChurnConfig struct {
	Kind     string `yaml:"kind,omitempty" json:"kind,omitempty"`         // orders (default) or subscriptions
	Horizon  string `yaml:"horizon,omitempty" json:"horizon,omitempty"`   // e.g. 90d (default)
	Lookback string `yaml:"lookback,omitempty" json:"lookback,omitempty"` // e.g. 365d; empty = all history
}
