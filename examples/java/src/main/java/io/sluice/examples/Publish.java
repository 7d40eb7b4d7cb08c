package io.sluice.examples;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.File;
import java.io.FileInputStream;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.Future;
import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageEncoder;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Publish sluice event envelopes from Java.
 *
 * <p>Each event is an Avro single-object encoded envelope (schemas/envelope.avsc), written by
 * Avro's own {@link BinaryMessageEncoder}: 0xC3 0x01, the 8-byte little-endian CRC-64-AVRO
 * fingerprint of the schema's Parsing Canonical Form ({@link
 * SchemaNormalization#parsingFingerprint64}), then the Avro binary body. Records are keyed by
 * the event's source and placed by kafka-clients' default partitioner (murmur2 of the key),
 * which is the partition sluice owns the source on; the correlation id and a W3C traceparent
 * from metadata (if any) travel as Kafka headers, as the C SDK and the Python example send
 * them.
 *
 * <pre>
 *   Publish [FILE|-] [-bootstrap HOST:PORT] [-topic sluice.events.in]
 *           [-schema schemas/envelope.avsc] [-report OUT]
 * </pre>
 *
 * FILE holds JSON lines as `sluicectl publish` takes them: {"type","source","payload",
 * optional "id","occurred_at" (ms or RFC 3339),"correlation_id","ttl_ms","metadata"}.
 * Bootstrap servers: -bootstrap, else SLUICE_KAFKA_BOOTSTRAP_SERVERS. -report writes one line
 * per published event: "id source partition offset". Prints "published N events (M failed)"
 * on stderr; exit 1 if anything failed.
 */
public final class Publish {
  private static final ObjectMapper JSON = new ObjectMapper();

  public static void main(String[] args) throws Exception {
    String file = "-";
    String bootstrap = System.getenv("SLUICE_KAFKA_BOOTSTRAP_SERVERS");
    String topic = "sluice.events.in";
    String schemaPath = "schemas/envelope.avsc";
    String report = null;
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      if (a.startsWith("-") && !a.equals("-") && i + 1 >= args.length) {
        usage("option " + a + " needs a value");
      }
      switch (a) {
        case "-bootstrap" -> bootstrap = args[++i];
        case "-topic" -> topic = args[++i];
        case "-schema" -> schemaPath = args[++i];
        case "-report" -> report = args[++i];
        default -> {
          if (a.startsWith("-") && !a.equals("-")) {
            usage("unknown option " + a);
          }
          file = a;
        }
      }
    }
    if (bootstrap == null || bootstrap.isEmpty()) {
      usage("no bootstrap servers: -bootstrap or SLUICE_KAFKA_BOOTSTRAP_SERVERS");
    }

    Schema schema = new Schema.Parser().parse(new File(schemaPath));
    BinaryMessageEncoder<GenericRecord> encoder =
        new BinaryMessageEncoder<>(GenericData.get(), schema);

    Properties props = new Properties();
    props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    props.put(ProducerConfig.ACKS_CONFIG, "all");
    props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
    props.put(ProducerConfig.LINGER_MS_CONFIG, "5");
    props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());

    List<String> ids = new ArrayList<>();
    List<String> sources = new ArrayList<>();
    List<Future<RecordMetadata>> sent = new ArrayList<>();
    int lineNo = 0;
    try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(props);
        BufferedReader in = reader(file)) {
      for (String line; (line = in.readLine()) != null; ) {
        lineNo++;
        if (line.isBlank()) {
          continue;
        }
        GenericRecord env;
        try {
          env = envelope(schema, JSON.readTree(line));
        } catch (IllegalArgumentException | com.fasterxml.jackson.core.JsonProcessingException e) {
          System.err.println("Publish: line " + lineNo + ": " + e.getMessage());
          System.exit(1);
          return;
        }
        ByteBuffer body = encoder.encode(env);
        byte[] value = new byte[body.remaining()];
        body.get(value);
        String source = env.get("source").toString();
        ProducerRecord<String, byte[]> rec = new ProducerRecord<>(topic, source, value);
        Object corr = env.get("correlation_id");
        if (corr != null) {
          rec.headers().add("correlation_id", corr.toString().getBytes(StandardCharsets.UTF_8));
        }
        @SuppressWarnings("unchecked")
        Map<String, String> meta = (Map<String, String>) env.get("metadata");
        if (meta.containsKey("traceparent")) {
          rec.headers()
              .add("traceparent", meta.get("traceparent").getBytes(StandardCharsets.UTF_8));
        }
        ids.add(env.get("id").toString());
        sources.add(source);
        sent.add(producer.send(rec));
      }
      producer.flush();
    }

    int failed = 0;
    try (PrintWriter out = report == null ? null : new PrintWriter(report, "UTF-8")) {
      for (int i = 0; i < sent.size(); i++) {
        try {
          RecordMetadata md = sent.get(i).get();
          if (out != null) {
            out.println(ids.get(i) + " " + sources.get(i) + " " + md.partition() + " "
                + md.offset());
          }
        } catch (Exception e) {
          failed++;
          System.err.println("Publish: " + ids.get(i) + ": " + e.getMessage());
        }
      }
    }
    System.err.println("published " + (sent.size() - failed) + " events (" + failed
        + " failed)");
    System.exit(failed == 0 ? 0 : 1);
  }

  /** One JSON line -> an Envelope record; IllegalArgumentException says what is wrong. */
  private static GenericRecord envelope(Schema schema, JsonNode o) {
    if (!o.isObject()) {
      throw new IllegalArgumentException("not a JSON object");
    }
    for (Iterator<String> it = o.fieldNames(); it.hasNext(); ) {
      String k = it.next();
      if (schema.getField(k) == null) {
        throw new IllegalArgumentException("unknown key '" + k + "'");
      }
    }
    GenericRecord r = new GenericData.Record(schema);
    r.put("id", o.hasNonNull("id") ? o.get("id").asText() : UUID.randomUUID().toString());
    r.put("type", text(o, "type"));
    r.put("source", text(o, "source"));
    JsonNode at = o.get("occurred_at");
    long ms;
    if (at == null || at.isNull()) {
      ms = System.currentTimeMillis();
    } else if (at.isNumber()) {
      ms = at.asLong();
    } else {
      ms = Instant.parse(at.asText()).toEpochMilli();
    }
    r.put("occurred_at", ms);
    JsonNode p = o.get("payload");
    r.put("payload", p == null ? "{}" : p.isTextual() ? p.asText() : p.toString());
    r.put("correlation_id", o.hasNonNull("correlation_id") ? o.get("correlation_id").asText()
        : null);
    r.put("ttl_ms", o.hasNonNull("ttl_ms") ? o.get("ttl_ms").asLong() : null);
    Map<String, String> meta = new LinkedHashMap<>();
    JsonNode m = o.get("metadata");
    if (m != null && !m.isNull()) {
      if (!m.isObject()) {
        throw new IllegalArgumentException("metadata is not an object");
      }
      m.fields().forEachRemaining(e -> meta.put(e.getKey(), e.getValue().asText()));
    }
    r.put("metadata", meta);
    return r;
  }

  private static String text(JsonNode o, String k) {
    JsonNode v = o.get(k);
    if (v == null || !v.isTextual()) {
      throw new IllegalArgumentException("'" + k + "' must be a string");
    }
    return v.asText();
  }

  private static BufferedReader reader(String file) throws Exception {
    InputStream in = file.equals("-") ? System.in : new FileInputStream(file);
    return new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
  }

  private static void usage(String why) {
    System.err.println("Publish: " + why);
    System.err.println("usage: Publish [FILE|-] [-bootstrap HOST:PORT] [-topic T] "
        + "[-schema schemas/envelope.avsc] [-report OUT]");
    System.exit(2);
  }

  private Publish() {}
}
