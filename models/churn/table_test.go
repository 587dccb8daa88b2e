package churn

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestReadTable(t *testing.T) {
	csv := "RowNumber,id,Name,plan,tenure,charges,Churn\n" +
		"1,a,Ann,basic,1,10.5,Yes\n" +
		"2,b,Bob,pro,20, ,No\n" +
		"3,c,Cid,,5,30,No\n" +
		"4,d,Dee,basic,7,12,Yes\n"
	tb, err := ReadTable(strings.NewReader(csv), "t.csv", "Churn", "id")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(tb.Names, ","); got != "Name,plan,tenure,charges" {
		t.Errorf("features %s", got)
	}
	if len(tb.Dropped) != 1 || !strings.HasPrefix(tb.Dropped[0], "RowNumber") {
		t.Errorf("dropped %v", tb.Dropped)
	}
	if tb.Y[0] != 1 || tb.Y[1] != 0 || tb.IDs[2] != "c" {
		t.Errorf("labels %v ids %v", tb.Y, tb.IDs)
	}
	plan := tb.X[1]
	if !tb.Categorical[1] || plan[0] != 0 || plan[1] != 1 || !math.IsNaN(plan[2]) {
		t.Errorf("plan codes %v", plan)
	}
	if !math.IsNaN(tb.X[3][1]) || tb.X[3][0] != 10.5 {
		t.Errorf("charges %v", tb.X[3])
	}
}

func TestReadTableErrors(t *testing.T) {
	cases := []struct{ name, csv, label, want string }{
		{"no label", "a,b\n1,2\n", "Churn", `column "Churn": no such column`},
		{"bad label", "a,Churn\n1,Yes\n2,maybe\n", "Churn", `t.csv: row 3: column "Churn": label "maybe"`},
		{"empty", "a,Churn\n", "Churn", "no data rows"},
	}
	for _, c := range cases {
		_, err := ReadTable(strings.NewReader(c.csv), "t.csv", c.label, "")
		var te *TableError
		if err == nil || !errors.As(err, &te) || !te.BadInput() || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want %q", c.name, err, c.want)
		}
	}
}

func FuzzReadTable(f *testing.F) {
	f.Add("a,b,y\n1,x,1\n2,,0\n")
	f.Add("y\n\"1\n")
	f.Fuzz(func(t *testing.T, s string) {
		tb, err := ReadTable(strings.NewReader(s), "f.csv", "y", "")
		if err == nil && len(tb.Y) != tb.Rows() {
			t.Fatalf("rows %d labels %d", tb.Rows(), len(tb.Y))
		}
	})
}
