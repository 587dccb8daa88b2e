package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLV(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestCLVSummaryReproducesCDNOW(t *testing.T) {
	out := filepath.Join(t.TempDir(), "s.csv")
	if _, err := runCLV(t, "clv", "summary", "--transactions", "../../models/clv/testdata/CDNOW_sample.txt",
		"--customer-col", "2", "--time-col", "3", "--amount-col", "5", "--time-format", "20060102",
		"--calibration-end", "1997-09-30", "--unit", "week", "--decimals", "2", "--out", out); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	want, _ := os.ReadFile("../../models/clv/testdata/cdnow_customers_summary_with_transactions.csv")
	gl := strings.Split(strings.TrimSpace(string(got)), "\n")
	wl := strings.Split(strings.TrimSpace(string(want)), "\n")
	if len(gl) != len(wl) {
		t.Fatalf("%d lines, want %d", len(gl), len(wl))
	}
	for i := 1; i < len(wl); i++ {
		g := strings.Split(gl[i], ",")
		w := strings.Split(strings.TrimSpace(wl[i]), ",")
		// ID,x,t_x,T,zbar vs customer_id,frequency,recency,T,monetary_value,…
		if strings.TrimLeft(g[0], "0") != w[0] || g[1] != w[1]+".00" || g[2] != w[2] || g[3] != w[3] || g[4] != w[4] {
			t.Fatalf("line %d: %s, want %s", i+1, gl[i], wl[i])
		}
	}
}

func TestCLVFitJSON(t *testing.T) {
	s, err := runCLV(t, "clv", "fit", "--model", "bgnbd", "--summary", "../../models/clv/testdata/cdnow_customers_summary.csv", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Params        map[string]float64 `json:"params"`
		LogLikelihood float64            `json:"log_likelihood"`
		Converged     bool               `json:"converged"`
	}
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		t.Fatal(err, s)
	}
	if !r.Converged || r.LogLikelihood > -9582 || r.LogLikelihood < -9583 || r.Params["r"] < 0.242 || r.Params["r"] > 0.244 {
		t.Fatalf("%+v", r)
	}
}

// FuzzCLVReaders: the summary and transaction readers never panic.
func FuzzCLVReaders(f *testing.F) {
	f.Add("frequency,recency,T\n1,2,3\n")
	f.Add("x,t_x,T,zbar\n0,0,1,0\n2,1,\"3\",4\n")
	f.Add(" 1 0001 19970101 2 29.33\n 1 0001 19970118 2 x\n")
	f.Add("customer_id,ordered_at,amount\nA,2024-01-01,3\nB,2024-13-01,1\n")
	f.Fuzz(func(t *testing.T, s string) {
		p := filepath.Join(t.TempDir(), "in.csv")
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		_, _ = readSummaryCSV(p)
		_, _ = readTransactions(p, "customer_id", "ordered_at", "amount", "")
		_, _ = readTransactions(p, "2", "3", "5", "20060102")
	})
}
