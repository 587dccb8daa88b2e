package stores

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestPlan(t *testing.T) {
	now := time.Date(2026, 11, 2, 6, 0, 0, 0, time.UTC)
	rows := makeRisk(4000, "r", "2026-11-02", 0)
	share := 0.2
	pol := &Policy{Campaigns: []Campaign{
		{Name: "save", Tiers: []string{TierHigh}, DailyCapacity: 300, CostPerContact: 5, ControlShare: &share, Cooldown: "14d"},
		{Name: "winback", Tiers: []string{TierHigh, TierMedium}, Segments: []string{"lost"}},
	}}
	opted := map[string]bool{rows[10].CustomerID: true}
	contacts := Contacts{rows[20].CustomerID: now.AddDate(0, 0, -3), rows[30].CustomerID: now.AddDate(0, 0, -20)}
	q := pol.Plan(rows, "r", rows[0].AsOf, now, opted, contacts)
	byKey := map[string]QueueRow{}
	count := map[string]int{}
	var lastPrio = map[string]float64{"save": 1e18, "winback": 1e18}
	for _, r := range q {
		if _, dup := byKey[r.IdempotencyKey]; dup {
			t.Fatalf("key %s twice", r.IdempotencyKey)
		}
		byKey[r.IdempotencyKey] = r
		if r.Priority > lastPrio[r.Campaign] {
			t.Fatalf("%s not in priority order", r.Campaign)
		}
		lastPrio[r.Campaign] = r.Priority
		reason, _, _ := strings.Cut(r.SuppressionReason, ":")
		count[r.Campaign+"/"+r.Treatment+"/"+r.Status+"/"+reason]++
		if (r.Status == StatusSuppressed) != (r.SuppressionReason != "") {
			t.Fatalf("status %s with reason %q", r.Status, r.SuppressionReason)
		}
	}
	t.Log(count)
	if count["save/treatment/pending/"] != 300 {
		t.Errorf("save treated %d, want the capacity 300", count["save/treatment/pending/"])
	}
	if c := count["save/control/pending/"]; c < 40 || c > 110 {
		t.Errorf("save control %d, want about 20%% of 375", c)
	}
	for _, want := range []struct {
		row    int
		camp   string
		reason string
	}{{10, "save", ReasonOptedOut}, {20, "save", ReasonCooldown}} {
		r := rows[want.row]
		if r.RiskTier != TierHigh {
			continue
		}
		got := byKey[IdempotencyKey(r.CustomerID, want.camp, r.AsOf)]
		if got.SuppressionReason != want.reason {
			t.Errorf("customer %s: %q, want %q", r.CustomerID, got.SuppressionReason, want.reason)
		}
	}
	if count["winback/treatment/suppressed/"+ReasonOtherCampaign] == 0 {
		t.Error("no customer suppressed in winback for being in save")
	}
	// control assignment is stable across nights and independent of scores
	next := pol.Plan(makeRisk(4000, "r2", "2026-11-03", 0.01), "r2", day("2026-11-03"), now.AddDate(0, 0, 1), nil, nil)
	for _, r := range next {
		if prev, ok := byKey[IdempotencyKey(r.CustomerID, r.Campaign, rows[0].AsOf)]; ok && prev.Treatment != r.Treatment {
			t.Fatalf("customer %s moved from %s to %s", r.CustomerID, prev.Treatment, r.Treatment)
		}
	}
}

func TestPolicyValidate(t *testing.T) {
	bad := 1.5
	for _, tc := range []struct {
		p    Policy
		want string
	}{
		{Policy{Campaigns: []Campaign{{}}}, "policy.campaigns[0].name"},
		{Policy{Campaigns: []Campaign{{Name: "a"}, {Name: "a"}}}, "policy.campaigns[1].name"},
		{Policy{Campaigns: []Campaign{{Name: "a", Tiers: []string{"hot"}}}}, "policy.campaigns[0].tiers"},
		{Policy{Campaigns: []Campaign{{Name: "a", ControlShare: &bad}}}, "policy.campaigns[0].control_share"},
		{Policy{Campaigns: []Campaign{{Name: "a", Cooldown: "soon"}}}, "policy.campaigns[0].cooldown"},
		{Policy{OptedOutTable: "x; drop table y"}, "policy.opted_out_table"},
		{Policy{Campaigns: []Campaign{{Name: "a", Cooldown: "2w", ExpiresAfter: "36h"}}}, ""},
	} {
		err := tc.p.Validate()
		if (err == nil) != (tc.want == "") || (err != nil && !strings.HasPrefix(err.Error(), tc.want)) {
			t.Errorf("%+v: %v, want %q", tc.p, err, tc.want)
		}
	}
}

func FuzzDecodeCursor(f *testing.F) {
	f.Add(cursor{Run: "r", AsOf: "2026-11-01", Model: "m", After: "c1"}.encode())
	f.Add("")
	f.Add("eyJ9")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := decodeCursor(s)
		if err == nil && (c.After == "" || c.encode() == "") {
			t.Fatalf("accepted %q as %+v", s, c)
		}
	})
}

// TestByCustomer: sorted runs are merged into the same order a sort gives.
func TestByCustomer(t *testing.T) {
	for _, runs := range []int{1, 2, 3, 8, 9, 100} {
		rows := make([]RiskRow, 1000)
		for i := range rows {
			// run r holds customers r, r+runs, r+2*runs, … in order
			per := (len(rows) + runs - 1) / runs
			r, k := i/per, i%per
			rows[i].CustomerID = fmt.Sprintf("c%06d", k*runs+r)
		}
		got := byCustomer(rows)
		if len(got) != len(rows) {
			t.Fatalf("%d runs: %d indexes", runs, len(got))
		}
		seen := make([]bool, len(rows))
		for k, i := range got {
			if seen[i] {
				t.Fatalf("%d runs: row %d twice", runs, i)
			}
			seen[i] = true
			if k > 0 && rows[got[k-1]].CustomerID >= rows[i].CustomerID {
				t.Fatalf("%d runs: %s before %s", runs, rows[got[k-1]].CustomerID, rows[i].CustomerID)
			}
		}
	}
}
