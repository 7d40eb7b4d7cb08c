/*
 * The status page's files as the build embeds them (cmake/embed_page.cmake generates
 * the table from processors/admin/page/).
 */
#ifndef SL_ADMIN_PAGE_H
#define SL_ADMIN_PAGE_H

#include <stddef.h>

typedef struct sl_adm_page_file_s {
        const char *path; /* "/", "/app.js", ... */
        const char *content_type;
        const unsigned char *data;
        size_t len;
} sl_adm_page_file_t;

extern const sl_adm_page_file_t sl__adm_page_files[];
extern const size_t sl__adm_page_nfiles;

#endif
