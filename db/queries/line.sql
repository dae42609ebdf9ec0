-- InsertLines adds the new lines of one order in one statement (the arrays are
-- zipped, one element per line). A line id that is already taken fails with a
-- unique violation on order_lines_pkey.
-- name: InsertLines :exec
INSERT INTO order_lines (venue_id, order_id, id, position, sku, name, qty, unit_price_cents,
                         seat, course, modifiers, note, station, status, comped, options, tax_class, portions,
                         check_no, shared_by)
SELECT @venue_id, @order_id,
       unnest(@ids::uuid[]), unnest(@positions::int[]), unnest(@skus::text[]),
       unnest(@names::text[]), unnest(@qtys::int[]), unnest(@unit_prices::bigint[]),
       unnest(@seats::int[]), unnest(@courses::int[]), unnest(@modifiers::jsonb[]),
       unnest(@notes::text[]), unnest(@stations::text[]), unnest(@statuses::text[]),
       unnest(@compeds::bool[]), unnest(@options::jsonb[]), unnest(@tax_classes::text[]),
       unnest(@portions::int[]), unnest(@checks::int[]),
       -- a shared line's checks as an array literal ('{1,2}'), '' for none
       nullif(unnest(@shared_bys::text[]), '')::int[];

-- UpdateLines writes the mutable fields of changed lines of one order.
-- name: UpdateLines :exec
UPDATE order_lines l
SET qty = u.qty, status = u.status, comped = u.comped, portions = u.portions,
    check_no = u.check_no, shared_by = u.shared_by
FROM (SELECT unnest(@ids::uuid[]) AS id, unnest(@qtys::int[]) AS qty,
             unnest(@statuses::text[]) AS status, unnest(@compeds::bool[]) AS comped,
             unnest(@portions::int[]) AS portions, unnest(@checks::int[]) AS check_no,
             nullif(unnest(@shared_bys::text[]), '')::int[] AS shared_by) u
WHERE l.venue_id = @venue_id AND l.order_id = @order_id AND l.id = u.id;

-- name: DeleteLines :exec
DELETE FROM order_lines
WHERE venue_id = @venue_id AND order_id = @order_id AND id = ANY(@ids::uuid[]);
