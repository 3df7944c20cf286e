"""The example services the order saga talks to, one module each.

`sagabus run` imports this package and its modules and serves every `Service` found.
The failure rules are deterministic so that every path of the saga can be chosen:

- payments: an amount above `PAYMENT_LIMIT` (50,000) is declined;
- inventory: a SKU starting with `OOS-` has no stock; any other SKU starts with
  `INITIAL_STOCK` (1,000,000) units the first time it is seen;
- shipping: a SKU starting with `SLOW-` is never answered (the silent participant);
- the saga sends orders above 10,000 to manual review (`OrderReviewApproved` or
  `OrderReviewRejected` decides).
"""
