-- InsertPayments appends payments of one order (arrays zipped, one element per
-- payment).
-- name: InsertPayments :exec
INSERT INTO order_payments (venue_id, order_id, position, tender, amount_cents, tip_cents)
SELECT @venue_id, @order_id, unnest(@positions::int[]), unnest(@tenders::text[]),
       unnest(@amounts::bigint[]), unnest(@tips::bigint[]);
