package clv_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"strconv"

	"github.com/retainlab/retain/models/clv"
)

func Example() {
	f, _ := os.Open("testdata/cdnow_customers_summary_with_transactions.csv")
	defer f.Close()
	recs, _ := csv.NewReader(f).ReadAll()
	var x, tx, T, zbar []float64
	for _, r := range recs[1:] {
		v := func(i int) float64 { n, _ := strconv.ParseFloat(r[i], 64); return n }
		x, tx, T, zbar = append(x, v(1)), append(tx, v(2)), append(T, v(3)), append(zbar, v(4))
	}
	vm, err := clv.FitValueModel(context.Background(), x, tx, T, zbar, "week", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	b := vm.Purchases
	fmt.Printf("BG/NBD r=%.3f alpha=%.3f a=%.3f b=%.3f\n", b.R, b.Alpha, b.A, b.B)
	fmt.Printf("Gamma-Gamma p=%.2f q=%.2f gamma=%.2f\n", vm.Spend.P, vm.Spend.Q, vm.Spend.Gamma)
	fmt.Printf("E[X(39) | x=2, t_x=30.43, T=38.86] = %.3f\n", b.ExpectedPurchases(39, 2, 30.43, 38.86))
	p := clv.Predictions{PAlive: make([]float64, 1), CLV: make([]float64, 1)}
	_ = vm.Score(&p, x[:1], tx[:1], T[:1], zbar[:1], clv.ScoreConfig{Horizon: 39,
		CLV: clv.CLVConfig{Months: 12, UnitsPerMonth: 4.345, DiscountRate: 0.01}})
	fmt.Printf("customer 1: P(alive)=%.3f, 12-month CLV=%.2f\n", p.PAlive[0], p.CLV[0])
	// Output:
	// BG/NBD r=0.243 alpha=4.414 a=0.793 b=2.426
	// Gamma-Gamma p=6.25 q=3.74 gamma=15.45
	// E[X(39) | x=2, t_x=30.43, T=38.86] = 1.226
	// customer 1: P(alive)=0.727, 12-month CLV=36.28
}
