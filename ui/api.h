/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The investigation half of the JSON API (ui/api.c): flame graph and symbols of a time
 * range, the timeline, the sandwich of a function, the diff of two ranges or slots, and
 * downloads; plus the response helpers of ui/http.c they share. docs/ui.md describes it.
 */
#ifndef KILN_UI_API_H
#define KILN_UI_API_H

#include <stdint.h>

#include <microhttpd.h>

#include "ui/route.h"
#include "common/strbuf.h"
#include "ui/ui_internal.h"

/* Queues BODY (malloc'd, taken) with TYPE and STATUS, and header HNAME: HVALUE if given. */
enum MHD_Result ui_respond_h(struct ui *u, struct MHD_Connection *conn, unsigned int status,
			     const char *type, char *body, size_t len, const char *hname,
			     const char *hvalue);

/* Queues BODY (malloc'd, taken) with TYPE and STATUS. */
enum MHD_Result ui_respond(struct ui *u, struct MHD_Connection *conn, unsigned int status,
			   const char *type, char *body, size_t len);

/* Queues the contents of B (taken) with TYPE and STATUS. */
enum MHD_Result ui_respond_sbuf(struct ui *u, struct MHD_Connection *conn, unsigned int status,
				const char *type, struct strbuf *b);

/* Queues {"error": MSG, "status": STATUS}. */
enum MHD_Result ui_json_error(struct ui *u, struct MHD_Connection *conn, unsigned int status,
			      const char *msg);

/* Query argument NAME as a number in [MIN, MAX], DEF when absent. Returns 0 or -EINVAL. */
int ui_query_u64(struct MHD_Connection *conn, const char *name, uint64_t min, uint64_t max,
		 uint64_t def, uint64_t *out);

/* GET /api/slots/{id}/flamegraph and /symbols, with from/to. */
enum MHD_Result ui_api__view(struct ui *u, struct MHD_Connection *conn, const struct ui_route *r);

/* GET /api/slots/{id}/timeline: samples per window. */
enum MHD_Result ui_api__timeline(struct ui *u, struct MHD_Connection *conn,
				 const struct ui_route *r);

/* GET /api/slots/{id}/sandwich?name=F: F's callers and callees. */
enum MHD_Result ui_api__sandwich(struct ui *u, struct MHD_Connection *conn,
				 const struct ui_route *r);

/* GET /api/slots/{id}/profile?format=pprof|folded|otlp: a download. */
enum MHD_Result ui_api__profile(struct ui *u, struct MHD_Connection *conn,
				const struct ui_route *r);

/* GET /api/diff?a=SPEC&b=SPEC (ui_range_spec__parse()). */
enum MHD_Result ui_api__diff(struct ui *u, struct MHD_Connection *conn);

#endif
