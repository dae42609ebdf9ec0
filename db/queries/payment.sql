-- InsertPayments appends money movements of one order (arrays zipped, one
-- element per movement): payments, and refunds (negative amounts naming
-- the position of the payment refunded in refund_ofs, -1 for none).
-- name: InsertPayments :exec
INSERT INTO order_payments (venue_id, order_id, position, id, tender, amount_cents, tip_cents, refund_of, reason, check_no)
SELECT @venue_id, @order_id, unnest(@positions::int[]), unnest(@ids::uuid[]), unnest(@tenders::text[]),
       unnest(@amounts::bigint[]), unnest(@tips::bigint[]), nullif(unnest(@refund_ofs::int[]), -1),
       unnest(@reasons::text[]), unnest(@checks::int[]);

-- UpdatePaymentChecks moves payments of one order to other checks
-- (merge_checks), by position.
-- name: UpdatePaymentChecks :exec
UPDATE order_payments p
SET check_no = u.check_no
FROM (SELECT unnest(@positions::int[]) AS position, unnest(@checks::int[]) AS check_no) u
WHERE p.venue_id = @venue_id AND p.order_id = @order_id AND p.position = u.position;
