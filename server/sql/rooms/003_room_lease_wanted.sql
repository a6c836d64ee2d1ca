-- Handing a room over on request (docs/SCALING.md, "Rolling restarts"): a
-- node refused a room marks its lease wanted; the holder sees it at its next
-- renewal and, once it has held the room a while, hands it over as in a
-- drain (flush, release, sessions to reconnect), so that the room follows
-- the proxy's routing back to the node its clients now reach.
ALTER TABLE tlsync_room_lease
    ADD COLUMN wanted_by text,
    ADD COLUMN wanted_at timestamptz;
