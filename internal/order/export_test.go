package order

// PriceChecks exposes the per-check pricing path so the tests can hold it
// to the single-check one on orders that are not split.
func PriceChecks(o *Order) (OrderPricing, error) { return priceChecks(o, o.PricingInput()) }
