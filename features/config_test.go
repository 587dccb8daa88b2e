package features

import (
	"strings"
	"testing"
	"time"
)

func TestChurnConfigValidate(t *testing.T) {
	cases := []struct {
		c       ChurnConfig
		wantErr string
	}{
		{ChurnConfig{}, ""},
		{ChurnConfig{Kind: "subscriptions", Horizon: "12w", Lookback: "365d"}, ""},
		{ChurnConfig{Kind: "contracts"}, `churn.kind: "contracts" is not orders or subscriptions`},
		{ChurnConfig{Horizon: "9x"}, `churn.horizon: "9x" is not a duration like 90d`},
		{ChurnConfig{Horizon: "-3d"}, `churn.horizon: "-3d" is not a duration like 90d`},
		{ChurnConfig{Lookback: "soon"}, `churn.lookback: "soon" is not a duration like 365d`},
	}
	for _, c := range cases {
		err := c.c.Validate()
		if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || err.Error() != c.wantErr) {
			t.Errorf("%+v: error %v, want %q", c.c, err, c.wantErr)
		}
	}
	if h := (ChurnConfig{}).HorizonDuration(); h != 90*Day {
		t.Errorf("default horizon %v", h)
	}
	if h := (ChurnConfig{Horizon: "12w"}).HorizonDuration(); h != 84*Day {
		t.Errorf("12w = %v", h)
	}
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"90d", "12w", "36h", "1.5d", "", "d", "9x", "-1d", "1e300d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			if !strings.Contains(err.Error(), "duration") {
				t.Errorf("%q: error %q does not say what was expected", s, err)
			}
			return
		}
		if strings.HasSuffix(s, "d") && !strings.ContainsAny(s, "eE") {
			if back, err := ParseDuration(strings.TrimSuffix(s, "d") + "d"); err != nil || back != d {
				t.Errorf("%q: not stable", s)
			}
		}
		_ = time.Duration(d)
	})
}
