/* parser_bench.c - parse one typical request N times, for instruction counts (no timing).
 *
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Iinclude CSources/http_parser.c bench/parser_bench.c \
 *      -o /tmp/parser_bench
 *   valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out /tmp/parser_bench wrk 100000
 *   callgrind_annotate --inclusive=yes /tmp/cg.out | grep gale_http
 *
 * Instructions per parse = the inclusive Ir of gale_http_parser_execute divided by N.
 * Requests: wrk (the load generator's GET), curl, browser (a desktop browser's navigation),
 * chunked (a small chunked POST: head and body). */
#include "gale_http_parser.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char wrk_req[] =
    "GET / HTTP/1.1\r\nHost: 127.0.0.1:5001\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n";

static const char curl_req[] =
    "GET /api/items?id=42&sort=desc HTTP/1.1\r\nHost: localhost:5001\r\n"
    "User-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n";

static const char browser_req[] =
    "GET /docs/guide/index.html?lang=en HTTP/1.1\r\n"
    "Host: www.example.com\r\n"
    "Connection: keep-alive\r\n"
    "sec-ch-ua: \"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\", \"Not-A.Brand\";v=\"99\"\r\n"
    "sec-ch-ua-mobile: ?0\r\n"
    "sec-ch-ua-platform: \"Linux\"\r\n"
    "Upgrade-Insecure-Requests: 1\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7\r\n"
    "Sec-Fetch-Site: same-origin\r\n"
    "Sec-Fetch-Mode: navigate\r\n"
    "Sec-Fetch-User: ?1\r\n"
    "Sec-Fetch-Dest: document\r\n"
    "Referer: https://www.example.com/docs/\r\n"
    "Accept-Encoding: gzip, deflate, br, zstd\r\n"
    "Accept-Language: en-US,en;q=0.9\r\n"
    "Cookie: session=7f3c2a9b1e5d4c8a; theme=dark; _ga=GA1.2.1234567890.1700000000\r\n"
    "\r\n";

static const char chunked_req[] =
    "POST /upload HTTP/1.1\r\nHost: localhost:5001\r\nTransfer-Encoding: chunked\r\n"
    "Content-Type: application/json\r\n\r\n"
    "19\r\n{\"name\":\"gale\",\"size\":42}\r\n0\r\n\r\n";

int main(int argc, char **argv) {
    const char *which = argc > 1 ? argv[1] : "wrk";
    long n = argc > 2 ? strtol(argv[2], NULL, 10) : 100000;
    const char *req = wrk_req;
    size_t len = sizeof wrk_req - 1;
    if (strcmp(which, "curl") == 0) {
        req = curl_req;
        len = sizeof curl_req - 1;
    } else if (strcmp(which, "browser") == 0) {
        req = browser_req;
        len = sizeof browser_req - 1;
    } else if (strcmp(which, "chunked") == 0) {
        req = chunked_req;
        len = sizeof chunked_req - 1;
    } else if (strcmp(which, "wrk") != 0) {
        fprintf(stderr, "usage: parser_bench [wrk|curl|browser|chunked] [N]\n");
        return 2;
    }

    /* The bytes live in a heap buffer, as they would after a read. */
    char *buf = malloc(len);
    if (!buf) return 1;
    memcpy(buf, req, len);

    gale_http_field fields[100];
    gale_http_parser p;
    gale_http_parser_init(&p, GALE_HTTP_REQUEST, NULL, fields, 100);
    volatile size_t sink = 0;
    for (long k = 0; k < n; k++) {
        gale_http_parser_reset(&p);
        int r = gale_http_parser_execute(&p, buf, len);
        if (r <= 0) {
            fprintf(stderr, "parse failed: %s\n", p.error_reason ? p.error_reason : "need more");
            return 1;
        }
        sink += (size_t)r + p.head.num_fields;
        if (p.head.body_kind == GALE_HTTP_BODY_CHUNKED) {
            gale_http_chunked d;
            gale_http_chunked_init(&d, 0);
            size_t off = (size_t)r, used;
            gale_slice data;
            int c;
            while ((c = gale_http_chunked_decode(&d, buf + off, len - off, &used, &data)) == 1) {
                sink += data.len;
                off += used;
            }
            if (c != 0) {
                fprintf(stderr, "chunked body failed\n");
                return 1;
            }
        }
    }
    free(buf);
    return sink == 0;
}
