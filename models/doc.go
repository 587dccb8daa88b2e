// Package models is the root of retain's numeric code: churn classifiers
// (models/churn), evaluation metrics (models/eval) and CLV models
// (models/clv). Packages under models import gonum and the standard library,
// never another retain package outside models/.
package models
