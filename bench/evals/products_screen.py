"""Fifth-round screen of product-mix features for Online Retail (docs/models.md).

Reads the raw CSV with the filters of datasets/examples/online_retail.yaml
(no "C" invoices, quantity > 0, a customer id; times Europe/London -> UTC),
keeps the lines strictly before D and writes one row per customer with the
14 candidate columns that passed the screen (all label-free):

  pw_recent30 / pu_recent30  share of the product's units (before D) sold in
                             the last 30 days; spend-weighted / plain mean over
                             the customer's products
  tw_bloo{14,60} / tu_...    share of the product's buyers (before D) who
                             bought it in the last 14 / 60 days, the customer
                             left out, shrunk to the store share with 5
                             pseudo-buyers, divided by the store's share of
                             units in those days; weighted / plain mean
  svd_tfidf8_0..7            TruncatedSVD(8) of the TF-IDF (sublinear tf) of
                             the customer x product matrix of line counts

  /usr/bin/python3 bench/evals/products_screen.py 2011-09-09 [RAW.csv.gz] > cand.csv

Join on customer_id with the features file exported to CSV and
cross-validate with churn.ReadTable + churn.CrossValidate (model.seed 1, 2).
"""
import sys

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfTransformer

D = pd.Timestamp(sys.argv[1])
raw = sys.argv[2] if len(sys.argv) > 2 else '../shared/datasets/online_retail/online_retail.csv.gz'
day = pd.Timedelta(days=1)
L = pd.read_csv(raw, dtype={'InvoiceNo': str, 'StockCode': str, 'CustomerID': str})
L = L[~L.InvoiceNo.str.startswith('C') & (L.Quantity > 0) & L.CustomerID.notna() & (L.CustomerID.str.strip() != '')]
L = L.assign(t=pd.to_datetime(L.InvoiceDate).dt.tz_localize('Europe/London', ambiguous='NaT', nonexistent='shift_forward')
             .dt.tz_convert('UTC').dt.tz_localize(None),
             spend=L.Quantity * L.UnitPrice, cust=L.CustomerID.str.replace(r'\.0$', '', regex=True))
L = L[L.t < D]
custs = np.sort(L.cust.unique())
prods = np.sort(L.StockCode.unique())
ci = pd.Index(custs).get_indexer(L.cust)
pi = pd.Index(prods).get_indexer(L.StockCode)
out = pd.DataFrame(index=pd.Index(custs, name='customer_id'))

# product-mix components
cnt = sparse.csr_matrix((np.ones(len(L)), (ci, pi)), shape=(len(custs), len(prods)))
cnt.sum_duplicates()
M = TfidfTransformer(sublinear_tf=True).fit_transform(cnt)
Z = TruncatedSVD(8, random_state=0).fit_transform(M)
for j in range(8):
    out[f'svd_tfidf8_{j}'] = Z[:, j]

# customer x product pairs, spend as the weight
cp = L.groupby(['cust', 'StockCode']).agg(spend=('spend', 'sum')).reset_index()
units = L.groupby('StockCode').Quantity.sum()
u30 = L[L.t >= D - 30 * day].groupby('StockCode').Quantity.sum().reindex(units.index, fill_value=0)
cp['recent30'] = (u30 / units.clip(lower=1)).reindex(cp.StockCode).values
buyers = L.groupby('StockCode').cust.nunique()
for n in (14, 60):
    R = L[L.t >= D - n * day]
    store = R.Quantity.sum() / L.Quantity.sum()
    rb = R.groupby('StockCode').cust.nunique().reindex(units.index, fill_value=0)
    own = R.groupby(['cust', 'StockCode']).size().reindex(pd.MultiIndex.from_frame(cp[['cust', 'StockCode']]), fill_value=0).values > 0
    cp[f'bloo{n}'] = ((rb.reindex(cp.StockCode).values - own) + 5 * store) / ((buyers.reindex(cp.StockCode).values - 1) + 5) / store
g = cp.groupby('cust')
for c, w, u in (('recent30', 'pw_recent30', 'pu_recent30'), ('bloo14', 'tw_bloo14', 'tu_bloo14'), ('bloo60', 'tw_bloo60', 'tu_bloo60')):
    out[w] = ((cp[c] * cp.spend).groupby(cp.cust).sum() / g.spend.sum()).reindex(custs).values
    out[u] = g[c].mean().reindex(custs).values
out.to_csv(sys.stdout)
