package churn

import "testing"

func TestConfigGBDTDefaults(t *testing.T) {
	for _, tc := range []struct {
		name           string
		in             GBDTConfig
		colsample, msg float64
	}{
		{"unset", GBDTConfig{}, 0.8, 1},
		{"explicit", GBDTConfig{ColSample: 0.3, MinSplitGain: 0.01}, 0.3, 0.01},
	} {
		got := Config{GBDT: tc.in}.WithDefaults().GBDT
		if got.ColSample != tc.colsample || got.MinSplitGain != tc.msg {
			t.Errorf("%s: colsample %v, min_split_gain %v; want %v, %v", tc.name, got.ColSample, got.MinSplitGain, tc.colsample, tc.msg)
		}
	}
}
