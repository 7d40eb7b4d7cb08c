-- dead_letters: every record ingress could not accept (undecodable, invalid, failed its
-- payload schema), with the original bytes and headers, keyed by its Kafka position so
-- a replayed batch is written once.  Column order after id is the one ingress COPYs.

CREATE TABLE dead_letters (
        id              bigserial   PRIMARY KEY,
        topic           text        NOT NULL,
        kafka_partition integer     NOT NULL,
        kafka_offset    bigint      NOT NULL,
        kafka_key       bytea,
        raw             bytea       NOT NULL,
        reason          text        NOT NULL,
        message         text        NOT NULL,
        event_id        text,
        event_type      text,
        source          text,
        headers         jsonb       NOT NULL DEFAULT '{}',
        received_at     timestamptz NOT NULL DEFAULT now(),
        UNIQUE (topic, kafka_partition, kafka_offset)
);

CREATE INDEX dead_letters_reason_idx ON dead_letters (reason);
CREATE INDEX dead_letters_received_at_idx ON dead_letters (received_at);
