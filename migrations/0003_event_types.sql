-- event_types: the registry of event types and their payload schemas (Avro schema
-- JSON; NULL = no schema, any JSON object payload is accepted).  Every change notifies
-- channel sluice_event_types with the type as payload, so processors reload at once.

CREATE TABLE event_types (
        type           text        PRIMARY KEY,
        payload_schema text,
        description    text,
        updated_at     timestamptz NOT NULL DEFAULT now(),
        updated_by     text
);

CREATE FUNCTION sluice_event_types_notify() RETURNS trigger
LANGUAGE plpgsql
AS $fn$
BEGIN
        IF TG_OP = 'DELETE' THEN
                PERFORM pg_notify('sluice_event_types', OLD.type);
                RETURN OLD;
        END IF;
        IF TG_OP = 'UPDATE' AND OLD.type IS DISTINCT FROM NEW.type THEN
                PERFORM pg_notify('sluice_event_types', OLD.type);
        END IF;
        PERFORM pg_notify('sluice_event_types', NEW.type);
        RETURN NEW;
END
$fn$;

CREATE TRIGGER event_types_notify
        AFTER INSERT OR UPDATE OR DELETE ON event_types
        FOR EACH ROW EXECUTE FUNCTION sluice_event_types_notify();
