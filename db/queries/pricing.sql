-- VenuePricing reads what an order is priced and paid with: the venue's
-- tax classes in their order, its service charge (min_guests 0: none) and
-- its tenders. An order keeps the first two from its opening on.
-- name: VenuePricing :one
SELECT v.tenders,
       v.service_charge_min_guests,
       v.service_charge_rate_bps,
       coalesce(v.service_charge_tax_class, '')::text AS service_charge_tax_class,
       coalesce((SELECT jsonb_agg(jsonb_build_object('id', t.id, 'name', t.name, 'rate_bps', t.rate_bps,
                                                     'inclusive', t.inclusive) ORDER BY t.position)
                 FROM tax_classes t WHERE t.venue_id = v.id), '[]')::jsonb AS tax_classes
FROM venues v
WHERE v.id = @venue_id;
