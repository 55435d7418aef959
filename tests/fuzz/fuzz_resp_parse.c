/*
 * libFuzzer target for the RESP request framing (protocols/resp/resp_parse.c):
 * arbitrary bytes, split at a fuzzer-chosen point, with small limits so the
 * limit paths are reached. Every command returned must have arguments within
 * the limits, and the parser must never crash, leak or read out of bounds.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "resp_parse.h"

static void drain(struct resp_parser *p, const struct resp_parse_limits *lim)
{
    for (;;) {
        struct resp_argv a;
        int rc = resp_parser_next(p, &a);
        if (rc <= 0) {
            return;
        }
        /* Empty commands are skipped; a multibulk has at most max_args
         * arguments, an inline line at most one per two bytes. */
        if (a.argc == 0 || (a.argc > lim->max_args && a.argc > lim->max_inline / 2 + 1)) {
            abort();
        }
        for (size_t i = 0; i < a.argc; i++) {
            if (a.argv[i].len > lim->max_bulk && a.argv[i].len > lim->max_inline) {
                abort();
            }
        }
        resp_argv_free(&a);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct resp_parse_limits lim;
    resp_parse_limits_defaults(&lim);
    lim.max_args = 64;
    lim.max_bulk = 4096;
    lim.max_inline = 1024;
    lim.max_command = 16384;
    struct resp_parser p;
    if (resp_parser_init(&p, &lim) < 0) {
        return 0;
    }
    size_t cut = size ? data[0] % (size + 1) : 0;
    if (size) {
        data++;
        size--;
        cut = cut > size ? size : cut;
    }
    resp_parser_feed(&p, data, cut);
    drain(&p, &lim);
    resp_parser_feed(&p, data + cut, size - cut);
    drain(&p, &lim);
    resp_parser_free(&p);
    return 0;
}
