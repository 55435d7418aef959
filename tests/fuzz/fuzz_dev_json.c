/*
 * libFuzzer target for flo-dev's JSON model (devserver/dev_json.c), which
 * parses documents and paths that clients send in kv_json_* requests. The
 * input is split at the first NUL into a path and a document; a parsed
 * document must re-parse from its own compact output to the same text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dev_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t plen = nul != NULL ? (size_t)(nul - data) : 0;
    flo_buf_t path = FLO_BUF(data, plen);
    flo_buf_t text = nul != NULL ? FLO_BUF(nul + 1, size - plen - 1) : FLO_BUF(data, size);

    struct dev_json *doc = NULL;
    if (dev_json_parse(text, &doc) != 0) {
        return 0;
    }
    struct flo_wbuf a, b;
    flo_wbuf_init(&a);
    flo_wbuf_init(&b);
    struct dev_json *again = NULL;
    if (dev_json_write(doc, &a) == 0 && dev_json_parse(flo_wbuf_view(&a), &again) == 0 &&
        dev_json_write(again, &b) == 0) {
        if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0) {
            abort(); /* compact output must be a fixed point */
        }
    }
    dev_json_free(again);

    struct dev_json_step steps[DEV_JSON_MAX_PATH];
    size_t n;
    if (dev_json_path(path, steps, &n) == 0 && n > 0) {
        (void)dev_json_get(doc, steps, n);
        struct dev_json *val = NULL;
        if (dev_json_parse(FLO_BUF("[1,{}]", 6), &val) == 0 &&
            dev_json_set(doc, steps, n, val) != 0) {
            dev_json_free(val);
        }
        (void)dev_json_del(doc, steps, n);
    }
    flo_wbuf_free(&a);
    flo_wbuf_free(&b);
    dev_json_free(doc);
    return 0;
}
