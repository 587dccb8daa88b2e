package churn

import (
	"os"
	"testing"
)

// TestGBDTPublicTables is the quick tuning harness for the defaults: 5-fold
// CV AUC on the Telco and Bank tables. It runs only with RETAIN_GBDT_EVAL=1
// (it takes tens of seconds); `make eval` owns the real evaluation.
func TestGBDTPublicTables(t *testing.T) {
	if os.Getenv("RETAIN_GBDT_EVAL") == "" {
		t.Skip("set RETAIN_GBDT_EVAL=1")
	}
	const data = "../../../shared/datasets/"
	tables := []struct {
		name, path, label string
		drop              []string
	}{
		{"telco", data + "telco_customer_churn/WA_Fn-UseC_-Telco-Customer-Churn.csv", "Churn", []string{"customerID"}},
		{"bank", data + "bank_churn_modelling/Churn_Modelling.csv", "Exited", []string{"RowNumber", "CustomerId", "Surname"}},
	}
	for _, tb := range tables {
		ds := loadTableCSV(t, tb.path, tb.label, tb.drop...)
		auc, rounds := cvAUC(t, ds, GBDTConfig{}, 5)
		t.Logf("%s: rows %d, 5-fold AUC %.4f, mean trees %d", tb.name, ds.Rows(), auc, rounds)
	}
}
