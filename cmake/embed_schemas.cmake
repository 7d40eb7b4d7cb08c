# Turns schemas/envelope.avsc into a C string so the codec needs no files at run time.
file(READ ${SCHEMA_DIR}/envelope.avsc text)
string(REPLACE "\\" "\\\\" text "${text}")
string(REPLACE "\"" "\\\"" text "${text}")
string(REPLACE "\n" "\\n\"\n\"" text "${text}")
file(WRITE ${OUT} "/* Generated from schemas/envelope.avsc by cmake/embed_schemas.cmake. */\n")
file(APPEND ${OUT} "const char sl_envelope_schema_json[] =\n\"${text}\";\n")
