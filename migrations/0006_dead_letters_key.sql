-- A dead letter is the same one again only if the same bytes come back at the same
-- place.  (topic, partition, offset) alone is not enough: a development broker starts
-- its offsets at 0 again on every start (memory only), and a real topic that is
-- deleted and created again does too, while Postgres keeps the old rows; a new record
-- at a reused offset was taken for a replay and dropped.
ALTER TABLE dead_letters
        ADD COLUMN raw_md5 bytea GENERATED ALWAYS AS (decode(md5(raw), 'hex')) STORED;

ALTER TABLE dead_letters
        DROP CONSTRAINT dead_letters_topic_kafka_partition_kafka_offset_key;

ALTER TABLE dead_letters
        ADD CONSTRAINT dead_letters_record_key
        UNIQUE (topic, kafka_partition, kafka_offset, raw_md5);
