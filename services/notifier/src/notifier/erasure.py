"""The notifier's part of erasing a merchant (docs/erasure.md): its deliveries (pending, delivered, parked or
cancelled) hold the rendered notification (names, the merchant's contact address, signed reconnect and stop links),
their attempts the receivers' answers, the incidents the reconnect links: all deleted, the counts kept."""

from shared.erasure import delete

STATEMENTS = (
    delete("helpdesk_delivery_attempts", "delivery_id IN (SELECT delivery_id FROM helpdesk_deliveries"
                                         " WHERE merchant_id = $1)", "delivery_attempts"),
    delete("helpdesk_deliveries", name="deliveries"),
    delete("connection_incidents"),
)
DESCRIPTION = "Delete the merchant's deliveries (parked ones too), their attempts and its incidents; keep counts."
