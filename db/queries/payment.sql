-- InsertPayments appends money movements of one order (arrays zipped, one
-- element per movement): payments, and refunds (negative amounts naming
-- the position of the payment refunded in refund_ofs, -1 for none).
-- name: InsertPayments :exec
INSERT INTO order_payments (venue_id, order_id, position, id, tender, amount_cents, tip_cents, refund_of, reason)
SELECT @venue_id, @order_id, unnest(@positions::int[]), unnest(@ids::uuid[]), unnest(@tenders::text[]),
       unnest(@amounts::bigint[]), unnest(@tips::bigint[]), nullif(unnest(@refund_ofs::int[]), -1),
       unnest(@reasons::text[]);
