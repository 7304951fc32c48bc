/* httphook: how Airflow's HttpHook turns a connection into a request, shared by the programs
 * that call an HTTP endpoint named by an http connection (sensor_task's HttpSensor,
 * notify_task's HTTP notifier).
 *
 * The base URL comes from the connection (a host holding "://" as is, else schema (default
 * http) :// host, then :port), the endpoint is joined with one '/'; the connection's login is
 * basic auth and its extra keys are headers (except the keys HttpHook takes as request
 * options). Nothing here prints or returns the password in a message. */
#ifndef GUST_HTTPHOOK_H
#define GUST_HTTPHOOK_H

#include <jansson.h>

#include "conn.h"
#include "err.h"
#include "task.h"

/* The connection's base URL joined to endpoint (may be ""). New string, NULL when out of
 * memory. */
char *httphook_url(const struct conn *c, const char *endpoint);

/* params (an object) as "k=v&k2=v2", Python's urlencode (quote_plus; a non-string value as
 * its JSON text). New string; NULL when params is not a non-empty object. */
char *httphook_urlencode(json_t *params);

/* A JSON value as text: a string as itself, others as their JSON. New string. */
char *httphook_text(json_t *v);

/* Append "k: v" to headers. 0, or -1 with e (out of memory). */
int httphook_add_header(struct task_list *headers, const char *k, json_t *v, struct err *e);

/* Append the connection's extra keys as headers (not the request options: timeout, verify,
 * proxies, stream, cert, max_redirects, trust_env, allow_redirects, check_response), then
 * its login and password as "Authorization: Basic ...". 0, or -1 with e. */
int httphook_conn_headers(const struct conn *c, struct task_list *headers, struct err *e);

#endif
