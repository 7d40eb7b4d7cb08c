/*
 * The admin API's bearer tokens (admin.tokens): parsing the configured list and
 * finding the token a request presented, in constant time.
 *
 * admin.tokens is a comma-separated list of NAME:SCOPES:SECRET entries, SCOPES being
 * read, operate or read+operate; NAME ([A-Za-z0-9._-], 1..64) is what audit rows and
 * logs name, SECRET (16..256 printable ASCII characters, no ',' ':' or space) is what
 * a client sends as "Authorization: Bearer SECRET".  The secrets are never logged and
 * never part of an error message.
 */
#ifndef SL_ADMIN_TOKENS_H
#define SL_ADMIN_TOKENS_H

#include <stdbool.h>
#include <stddef.h>

#define SL_ADMIN_SCOPE_READ    1u
#define SL_ADMIN_SCOPE_OPERATE 2u

#define SL_ADMIN_TOKEN_NAME_MAX   64
#define SL_ADMIN_TOKEN_SECRET_MIN 16
#define SL_ADMIN_TOKEN_SECRET_MAX 256

typedef struct sl_admin_token_s {
        char name[SL_ADMIN_TOKEN_NAME_MAX + 1];
        char secret[SL_ADMIN_TOKEN_SECRET_MAX + 1];
        size_t secret_len;
        unsigned scopes; /* SL_ADMIN_SCOPE_* bits */
} sl_admin_token_t;

typedef struct sl_admin_tokens_s {
        sl_admin_token_t *v;
        size_t cnt;
} sl_admin_tokens_t;

/* Parse text (admin.tokens) into toks (zeroed by the caller).  0, or -1 with errstr
 * naming the entry by position and name, never showing a secret.  Release with
 * sl_admin_tokens_close(), also after a failure. */
int sl_admin_tokens_parse(const char *text, sl_admin_tokens_t *toks, char *errstr,
                          size_t errstr_size);
void sl_admin_tokens_close(sl_admin_tokens_t *toks);

/* The token whose secret equals the len bytes at secret, or NULL.  Every configured
 * secret is compared over its whole length whatever matched before, so the time taken
 * does not say how much of a secret was right.  Borrowed from toks. */
const sl_admin_token_t *sl_admin_tokens_find(const sl_admin_tokens_t *toks,
                                             const char *secret, size_t len);

#endif
