-- One owner per room (docs/SCALING.md): a node serves and writes a room only
-- while it holds the room's lease. Every time is Postgres's clock (now(),
-- clock_timestamp()): nodes' clocks are never compared with each other.
--
-- owner:      the node id (--node-id) holding the lease; NULL once released.
-- token:      the fencing token; grows by one on every acquisition, so a write
--             made under an older acquisition is told apart from the current one.
-- expires_at: when the lease lapses unless renewed; another node may take
--             the room after it (or at once after a release).
CREATE TABLE tlsync_room_lease (
    room_id text PRIMARY KEY,
    owner text,
    token bigint NOT NULL,
    expires_at timestamptz NOT NULL
);

-- The fence every write transaction of a room runs first: it locks the
-- lease row (FOR SHARE: an acquisition by another node, an UPDATE, waits for
-- this transaction's end) and fails the transaction with SQLSTATE TL001 unless
-- the caller still holds the lease with this token and it has not expired.
-- Serialized on the row lock, a write lands either before a takeover (and the
-- new owner loads it) or not at all.
CREATE FUNCTION tlsync_room_fence(p_room text, p_owner text, p_token bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    l tlsync_room_lease%ROWTYPE;
BEGIN
    SELECT * INTO l FROM tlsync_room_lease WHERE room_id = p_room FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'lease lost: room % has no lease', p_room USING ERRCODE = 'TL001';
    END IF;
    IF l.owner IS DISTINCT FROM p_owner OR l.token <> p_token THEN
        RAISE EXCEPTION 'lease lost: room % is held by % (token %), not % (token %)',
            p_room, coalesce(l.owner, 'nobody'), l.token, p_owner, p_token USING ERRCODE = 'TL001';
    END IF;
    IF l.expires_at <= clock_timestamp() THEN
        RAISE EXCEPTION 'lease lost: the lease of room % (token %) expired', p_room, p_token
            USING ERRCODE = 'TL001';
    END IF;
END
$$;
