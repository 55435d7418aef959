/*
 * Helpers shared by the RESP stream commands (resp_cmd_stream.c,
 * resp_cmd_xread.c, resp_cmd_xgroup.c, resp_cmd_xinfo.c): id arithmetic,
 * the Redis entry replies of Flo record lists, and the XINFO subcommands.
 * Not exported outside protocols/resp.
 */
#ifndef RESP_STREAM_H
#define RESP_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flo/flo_ops.h"
#include "resp_internal.h"

#define RESP_X_PAYLOAD_FIELD  "payload" /* field that carries the record payload */
#define RESP_X_ERR_INVALID_ID "ERR Invalid stream ID specified as stream command argument"

/* The id just before `id`; false if `id` is 0-0 (nothing precedes it). */
bool resp__x_id_prev(struct flo_stream_id id, struct flo_stream_id *out);

/* Reply with one entry [id, [field, value, ...]] (the payload/header
 * mapping of docs/resp-commands.md). The record's headers must decode
 * (resp__x_records_count checked them). */
void resp__x_reply_entry(struct resp_pending *p, const struct flo_stream_record *r);

/* The number of records (at most `max`) of a record list whose headers
 * decode: 0 and *n, or a negative decode error. */
int resp__x_records_count(flo_buf_t body, uint32_t max, size_t *n);

/* Reply with the array of the first `max` entries of a record list; 0, or
 * a decode error after which nothing was written. */
int resp__x_reply_records(struct resp_pending *p, flo_buf_t body, uint32_t max);

/* Run an XINFO subcommand (argv[1]): STREAM, CONSUMERS, GROUPS (refused:
 * Flo cannot list a stream's groups), HELP. Defined in resp_cmd_xinfo.c. */
void resp__xinfo_dispatch(struct resp_pending *p);

#endif
