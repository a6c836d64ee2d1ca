-- Which tlsyncd streams from which replication slot (one slot per node,
-- docs/SCALING.md). Each replicator registers its slot when it starts
-- streaming and marks it seen about once a minute; a slot whose node has not
-- been seen for --replicator-slot-ttl and that nobody streams from is
-- dropped by the other nodes, so a node that is gone for good does not make
-- PostgreSQL keep its WAL forever. Slots not listed here are never touched.
CREATE TABLE tlsync_replicator_slot (
    slot_name text PRIMARY KEY,
    node_id text NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    seen_at timestamptz NOT NULL DEFAULT now()
);
