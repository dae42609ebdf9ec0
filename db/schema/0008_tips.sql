-- +goose Up
-- Tips on their own (docs/PRICING.md). A card tip is often added after the
-- card payment settled the check, so a payment may have amount_cents 0
-- when it carries a tip (a tip alone); and a tip can be given back, so a
-- refund may take back some of its payment's tip (tip_cents < 0): a
-- mistyped tip, or a card charge refunded whole, is corrected. A payment
-- is amount ≥ 0 and tip ≥ 0, a refund amount ≤ 0 and tip ≤ 0 naming an
-- earlier payment; neither moves nothing.
ALTER TABLE order_payments
    DROP CONSTRAINT order_payments_tip_cents_check,
    DROP CONSTRAINT order_payments_tip_bound,
    DROP CONSTRAINT order_payments_amount_bound,
    DROP CONSTRAINT order_payments_refund,
    ADD CONSTRAINT order_payments_amount_bound
        CHECK (amount_cents BETWEEN -100000000 AND 100000000 AND (amount_cents <> 0 OR tip_cents <> 0)),
    ADD CONSTRAINT order_payments_tip_bound CHECK (tip_cents BETWEEN -100000000 AND 100000000),
    ADD CONSTRAINT order_payments_refund
        CHECK (CASE WHEN refund_of IS NULL THEN amount_cents >= 0 AND tip_cents >= 0
                    ELSE amount_cents <= 0 AND tip_cents <= 0 AND refund_of >= 0 AND refund_of < position END);

-- +goose Down
-- Row-level security applies to the table owner too (FORCE): the check
-- must see every venue. A tip alone or a refunded tip cannot be kept under
-- the old shape, and removing one would lose money the log records: Down
-- refuses while any is stored.
SELECT set_config('posd.scope', 'system', true);
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM order_payments WHERE amount_cents = 0 OR tip_cents < 0) THEN
        RAISE EXCEPTION 'order_payments holds tips alone (amount_cents 0) or refunded tips (tip_cents < 0), which the schema before 0008 cannot hold';
    END IF;
END
$$;
-- +goose StatementEnd
ALTER TABLE order_payments
    DROP CONSTRAINT order_payments_amount_bound,
    DROP CONSTRAINT order_payments_tip_bound,
    DROP CONSTRAINT order_payments_refund,
    ADD CONSTRAINT order_payments_tip_cents_check CHECK (tip_cents >= 0),
    ADD CONSTRAINT order_payments_tip_bound CHECK (tip_cents BETWEEN 0 AND 100000000),
    ADD CONSTRAINT order_payments_amount_bound
        CHECK (amount_cents BETWEEN -100000000 AND 100000000 AND amount_cents <> 0),
    ADD CONSTRAINT order_payments_refund
        CHECK ((refund_of IS NULL) = (amount_cents > 0)
               AND (refund_of IS NULL OR (tip_cents = 0 AND refund_of >= 0 AND refund_of < position)));
