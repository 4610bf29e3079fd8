"""Reports for auditors, regulators and administrators (a centre reads its own mass balance).

One module per report, each a function of one read snapshot (projection tables and, where
they do not hold a fact, the log itself), returning plain JSON-able dicts whose tables
(lists of flat rows) export as CSV:

- `mass_balance`: ore in, ore processed, gold out (and fine gold), recovery per run with
  its distribution and outliers, stock on hand against receipts minus consumption;
- `custody`: a lot's chain of custody back to its sites and miners, each step provable;
- `red_flags`: OECD Annex II style red flags, each with its ledger indices as evidence.

Shared pieces: `periods` (days in UTC+8), `queries` (deliveries and runs from the projection),
`evidence` (log reads and proof links), `stats` (exact quartiles), `tables` (CSV), `charts`
(hand-written SVG), `pages` (the HTML page); `routes` holds the HTTP endpoints, `models`
names the tables read, `domain` its `Domain`.
"""
