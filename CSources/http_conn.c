/* http_conn.c - one HTTP/1.1 connection's input side: reading, parsing, bodies, delivering
 * requests in order, timeouts, and closing; and the request accessors.
 *
 * Re-entrancy: process() delivers a request and, right after on_request, runs the loop's
 * deferred queue - that is where a language binding's handler continues - so a handler that
 * answers at once has ended its response before process() looks at the next pipelined
 * request, and all those responses leave in one write at the end. A response that ends
 * outside process() (a handler that awaited something) queues a resume for later in the
 * same loop turn. process() never nests: a call from inside it returns at once. */
#include "http_internal.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

static void process(gale_http_conn *c);
static void begin_request(gale_http_conn *c, uint32_t head_len);

static size_t queued(const gale_http_conn *c) { return c->in.len - c->in.off; }

/* ---- life and death --------------------------------------------------------------------- */

static void release_message(gale_http_conn *c, gale_http_server *srv) {
    if (c->fields) {
        gale__http_fields_put(srv, c->fields);
        c->fields = NULL;
        gale_http_parser_set_fields(&c->parser, NULL, 0);
    }
    gale__http_buf_release(srv, &c->pinned);
    gale__http_buf_release(srv, &c->body);
}

static void free_conn(gale_http_conn *c) {
    if (c->conn_ud_free) c->conn_ud_free(c->conn_ud);
    release_message(c, NULL);
    gale__http_buf_release(NULL, &c->in);
    free(c);
}

/* Memory goes once nothing refers to it: no request in flight, not inside our processing,
 * no resume queued. */
static void maybe_free(gale_http_conn *c) {
    if (c->dead && !c->req_active && c->dispatching == 0 && !c->resume_queued) free_conn(c);
}

void gale__http_conn_close(gale_http_conn *c, int err) {
    if (c->dead) return;
    gale_http_server *srv = c->srv;
    c->dead = 1;
    c->closing = 1;
    event_del(c->rev);
    event_del(c->wev);
    gale__close_fd(c->fd);
    c->fd = -1;
    gale__http_conn_destroy(c); /* off the server's lists; may complete a shutdown */
    gale__http_buf_release(srv, &c->out);
    c->head_building = 0;
    gale__http_buf_release(srv, &c->held);
    if (!c->req_active) {
        release_message(c, srv);
        gale__http_buf_release(srv, &c->in);
    }
    /* The server may go before the request in flight ends: the connection now frees its
     * own memory directly. */
    c->srv = NULL;
    if (c->req_active && !c->req.aborted) {
        c->req.aborted = 1;
        c->req.conn = NULL;
        c->dispatching++; /* on_abort may end the request at once: keep c until it returns */
        if (srv->cbs->on_abort) srv->cbs->on_abort(&c->req, err ? err : -ECONNRESET, srv->ud);
        c->dispatching--;
    }
    maybe_free(c);
    /* Last: done() may free the server (its memory stays until the loop's release queue). */
    gale__http_maybe_shutdown_done(srv);
}

/* Stop taking requests; once the queued output is out, shut down our side and read what the
 * client still sends until it closes (at most the linger timeout), so that closing with
 * unread input does not reset the connection under the client's last read. */
void gale__http_conn_linger(gale_http_conn *c) {
    if (c->dead || c->lingering) return;
    c->closing = 1;
    if (gale__http_out_pending(c) > 0 || c->req_active) return; /* called again once flushed */
    shutdown(c->fd, SHUT_WR);
    if (c->got_eof) {
        gale__http_conn_close(c, 0);
        return;
    }
    c->lingering = 1;
    gale__http_timeout_set(c, TL_LINGER);
    gale__http_conn_update_reading(c);
}

void gale__http_conn_on_timeout(gale_http_conn *c) {
    if (c->lingering) gale__http_conn_close(c, 0);
    else if (c->req_active) gale__http_conn_close(c, -ETIMEDOUT);  /* a streamed body or the client stalled */
    else if (c->in_body || queued(c) > 0) gale__http_conn_error(c, 408, "Request Timeout");
    else gale__http_conn_close(c, 0);                               /* idle, or never spoke */
}

/* Answer a request we cannot serve (bad input, limits, timeouts) and close. */
void gale__http_conn_error(gale_http_conn *c, int status, const char *reason) {
    if (c->dead) return;
    c->in_body = 0;
    c->in.off = c->in.len; /* nothing after this is parsed */
    if (gale__http_send_simple(c, status, reason) < 0) gale__http_conn_close(c, -EPIPE);
}

/* ---- reading ---------------------------------------------------------------------------- */

void gale__http_conn_update_reading(gale_http_conn *c) {
    if (c->dead) return;
    int want;
    gale_http_server *srv = c->srv;
    if (c->lingering) want = !c->got_eof;
    else if (c->closing || c->got_eof) want = 0;
    else if (gale__http_out_pending(c) >= srv->cfg.write_high_water) want = 0; /* not reading our answers */
    else if (c->req_active) {
        if (c->in_body) want = !c->req.body_paused;
        else want = queued(c) < srv->cfg.max_pipelined; /* a bounded pipeline, and EOF notice */
    } else want = 1;
    if (want == (int)c->reading) return;
    if (want) event_add(c->rev, NULL);
    else event_del(c->rev);
    c->reading = want ? 1 : 0;
}

/* The most `in` may hold for what we are reading now. */
static size_t read_limit(const gale_http_conn *c) {
    const gale_http_config *cfg = &c->srv->cfg;
    size_t base = (size_t)cfg->limits.max_header_bytes + cfg->max_pipelined + HTTP_BUF_SIZE;
    if (c->in_body && !c->body_chunked && !c->req_active) /* a Content-Length body, buffered */
        return (size_t)c->head_len + (size_t)c->body_left + base;
    return base;
}

/* Room for at least `want` more bytes in `in`. While a request is in flight its bytes may not
 * move: if `in` must grow or compact, the queued bytes go to a new buffer and the old one stays
 * with the request. */
static int make_room(gale_http_conn *c, size_t want) {
    http_buf *b = &c->in;
    if (c->req_active && c->req_in_in && b->data) {
        if (b->cap - b->len >= want) return 0;
        size_t q = queued(c);
        if (q + want > read_limit(c)) return -E2BIG;
        http_buf fresh = {0};
        int e = gale__http_buf_reserve(c->srv, &fresh, q + want, SIZE_MAX);
        if (e < 0) return e;
        memcpy(fresh.data, b->data + b->off, q);
        fresh.len = q;
        c->pinned = *b;
        c->req_in_in = 0;
        *b = fresh;
        return 0;
    }
    return gale__http_buf_reserve(c->srv, b, want, read_limit(c));
}

static void on_read(evutil_socket_t fd, short what, void *arg) {
    gale_http_conn *c = arg;
    if (c->lingering) { /* closing: read and drop until the client closes */
        char *scratch = gale__loop_scratch(c->srv->loop);
        ssize_t n;
        while (scratch && (n = read((int)fd, scratch, GALE__SCRATCH_SIZE)) > 0) {
        }
        if (!scratch || n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) gale__http_conn_close(c, 0);
        return;
    }
    for (int i = 0; i < 4; i++) {
        int e = make_room(c, 4096);
        if (e == -E2BIG) break; /* the queue is full: process it, reading stops meanwhile */
        if (e < 0) {
            gale__http_conn_close(c, e);
            return;
        }
        size_t space = c->in.cap - c->in.len;
        ssize_t n = read((int)fd, c->in.data + c->in.len, space);
        if (n > 0) {
            c->in.len += (size_t)n;
            if (c->in_body) c->body_progress = 1; /* the body timeout counts from here */
            if ((size_t)n < space) break;
            continue;
        }
        if (n == 0) {
            c->got_eof = 1;
            break;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        gale__http_conn_close(c, gale__neg_errno());
        return;
    }
    process(c);
}

/* ---- requests --------------------------------------------------------------------------- */

static void deliver(gale_http_conn *c, size_t consumed) {
    gale_http_server *srv = c->srv;
    gale_http_request *req = &c->req;
    req->base = c->in.data + c->in.off;
    c->req_in_in = 1;
    c->in.off += consumed;
    c->req_active = 1;
    c->served = 1;
    srv->requests++;
    /* Let the handler go on right after on_request (Swift tasks resume on the deferred queue).
     * Not when this is a request pumped from inside that very run (see pump()): the run goes
     * on by itself. */
    int run_here = !c->in_deferred;
    gale_loop *loop = srv->loop; /* the callback may free the server */
    if (run_here) gale__loop_defer_hold(loop);
    srv->cbs->on_request(req, srv->ud);
    if (run_here) {
        c->in_deferred = 1;
        gale__loop_defer_unhold_and_run(loop);
        if (!c->dead) c->in_deferred = 0;
    }
}

/* A response ended inside the deferred run that process() started for this connection: hand
 * over the next request now if it is already buffered whole and has no body, so a binding's
 * worker finishing one request finds the next one waiting instead of suspending, and a batch
 * of pipelined requests is answered in one run (and one write). Anything else - a partial
 * head, a body, an error - is left to process(), which resumes once the run is over. */
static void pump(gale_http_conn *c) {
    /* A request answered inline from on_request ends inside begin_request below: the loop
     * here takes the next one, so the stack does not grow once per pipelined request. */
    if (c->pumping) return;
    c->pumping = 1; /* c stays allocated: pump only runs inside process() */
    while (!c->closing && !c->dead && !c->req_active && c->fields && queued(c) > 0) {
        int r = gale_http_parser_execute(&c->parser, c->in.data + c->in.off, queued(c));
        if (r <= 0) break; /* the parser keeps its progress (or its error) for process() */
        const gale_http_head *h = &c->parser.head;
        if (h->body_kind == GALE_HTTP_BODY_CHUNKED || (h->body_kind == GALE_HTTP_BODY_LENGTH && h->content_length > 0))
            break;
        begin_request(c, (uint32_t)r); /* no body: delivers at once, without a nested run */
    }
    c->pumping = 0;
}

/* A buffered body: 1 once it is complete, 0 if more must arrive, -1 after an error answer. */
static int buffer_body(gale_http_conn *c) {
    gale_http_server *srv = c->srv;
    if (!c->body_chunked) {
        size_t need = (size_t)c->head_len + (size_t)c->body_left;
        if (queued(c) < need) return 0;
        c->req.body = gale_http_slice(c->in.data + c->in.off, c->head_len, (uint32_t)0);
        c->req.body.len = (size_t)c->body_left;
        return 1;
    }
    for (;;) {
        size_t used = 0;
        gale_slice piece;
        const char *raw = c->in.data + c->in.off + c->body_rel;
        int r = gale_http_chunked_decode(&c->chunked, raw, queued(c) - c->body_rel, &used, &piece);
        c->body_rel += (uint32_t)used;
        if (used) c->body_progress = 1;
        if (r == 1) {
            c->body_total += piece.len;
            if (c->body_total > srv->cfg.max_body_size) {
                gale__http_conn_error(c, 413, "Content Too Large");
                return -1;
            }
            if (gale__http_buf_reserve(srv, &c->body, piece.len, SIZE_MAX) < 0) {
                gale__http_conn_close(c, -ENOMEM);
                return -1;
            }
            memcpy(c->body.data + c->body.len, piece.ptr, piece.len);
            c->body.len += piece.len;
            continue;
        }
        if (r == 0) {
            c->req.body.ptr = c->body.data;
            c->req.body.len = c->body.len;
            return 1;
        }
        if (r == GALE_HTTP_NEED_MORE) {
            /* The raw chunks already decoded are dead weight: drop them (nothing was delivered,
             * so the head may move) to keep `in` at most a chunk's worth past the head. */
            uint32_t dead = c->body_rel - c->head_len;
            if (dead >= 16u * 1024u) {
                char *h = c->in.data + c->in.off;
                memmove(h + c->head_len, h + c->body_rel, queued(c) - c->body_rel);
                c->in.len -= dead;
                c->body_rel = c->head_len;
            }
            return 0;
        }
        gale__http_conn_error(c, 400, "Bad Request");
        return -1;
    }
}

/* A streamed body: hand over what is queued unless paused. */
static void stream_body(gale_http_conn *c) {
    gale_http_server *srv = c->srv;
    gale_http_request *req = &c->req;
    while (c->in_body && !req->body_paused && !c->dead && queued(c) > 0) {
        const char *data = c->in.data + c->in.off;
        size_t avail = queued(c);
        gale_slice piece = {data, 0};
        int done = 0;
        if (!c->body_chunked) {
            piece.len = avail < c->body_left ? avail : (size_t)c->body_left;
            c->in.off += piece.len;
            c->body_left -= piece.len;
            done = c->body_left == 0;
        } else {
            size_t used = 0;
            int r = gale_http_chunked_decode(&c->chunked, data, avail, &used, &piece);
            c->in.off += used;
            if (r == GALE_HTTP_ERROR) {
                gale__http_conn_close(c, GALE_EPROTO_BAD);
                return;
            }
            if (r == GALE_HTTP_NEED_MORE && piece.len == 0) break;
            if (r == 0) {
                piece.len = 0;
                done = 1;
            } else if (r != 1) {
                piece.len = 0;
            }
        }
        c->body_progress = 1;
        c->body_total += piece.len;
        if (c->body_total > srv->cfg.max_body_size) {
            gale__http_conn_close(c, -EFBIG);
            return;
        }
        gale_loop *loop = srv->loop;
        gale__loop_defer_hold(loop); /* the owner's tasks resume right after, below */
        if (piece.len && srv->cbs->on_body) srv->cbs->on_body(req, piece.ptr, piece.len, srv->ud);
        if (done && !c->dead) {
            c->in_body = 0;
            if (srv->cbs->on_body_end) srv->cbs->on_body_end(req, srv->ud);
        }
        gale__loop_defer_unhold_and_run(loop);
    }
}

/* A head is complete: check its body and deliver it now or once the body is in. */
static void begin_request(gale_http_conn *c, uint32_t head_len) {
    gale_http_server *srv = c->srv;
    const gale_http_head *h = &c->parser.head;
    gale_http_request *req = &c->req;
    memset(req, 0, sizeof *req);
    req->conn = c;
    req->base = c->in.data + c->in.off; /* for on_head; deliver() sets it again (in may move) */
    req->status = 200;
    req->is_head = h->method_len == 4 && memcmp(c->in.data + c->in.off + h->method_off, "HEAD", 4) == 0;
    c->head_len = head_len;
    c->body_total = 0;
    int chunked = h->body_kind == GALE_HTTP_BODY_CHUNKED;
    int has_body = chunked || (h->body_kind == GALE_HTTP_BODY_LENGTH && h->content_length > 0);
    if (!has_body) {
        deliver(c, head_len);
        return;
    }
    if (!chunked && h->content_length > srv->cfg.max_body_size) {
        gale__http_conn_error(c, 413, "Content Too Large"); /* before any 100 Continue */
        return;
    }
    c->in_body = 1;
    c->body_chunked = chunked ? 1 : 0;
    c->body_left = chunked ? 0 : h->content_length;
    c->body_rel = head_len;
    if (chunked) gale_http_chunked_init(&c->chunked, srv->cfg.limits.max_header_bytes);
    int mode = srv->cbs->on_head ? srv->cbs->on_head(req, srv->ud) : GALE_HTTP_BODY_BUFFER;
    if (c->dead) return; /* on_head freed the server */
    if ((h->flags & GALE_HTTP_F_EXPECT_CONTINUE) && queued(c) == head_len) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        if (gale__http_buf_reserve(srv, &c->out, sizeof cont - 1, SIZE_MAX) == 0) {
            memcpy(c->out.data + c->out.len, cont, sizeof cont - 1);
            c->out.len += sizeof cont - 1;
            gale__http_flush_output(c);
            if (c->dead) return;
        }
    }
    if (mode == GALE_HTTP_BODY_STREAM) {
        req->stream_body = 1;
        deliver(c, head_len); /* the body follows from in.off */
    }
}

static void process(gale_http_conn *c) {
    if (c->dead || c->dispatching) return;
    c->dispatching = 1;
    while (!c->dead) {
        if (c->req_active) {
            if (c->in_body && c->req.stream_body) {
                stream_body(c);
                /* Everything queued is consumed and the client's EOF came before the end of
                 * the body: it can never complete, so do not wait for the body timeout. */
                if (!c->dead && c->in_body && c->got_eof && !c->req.body_paused) {
                    gale__http_conn_close(c, -ECONNRESET);
                    break;
                }
            }
            if (c->req_active) break;
            continue; /* answered from on_body/on_body_end: on to what is queued behind it */
        }
        if (c->closing) break;
        if (c->in_body) {
            if (buffer_body(c) <= 0) break;
            c->in_body = 0;
            deliver(c, c->body_chunked ? c->body_rel : c->head_len + (size_t)c->body_left);
            continue;
        }
        size_t q = queued(c);
        if (q == 0) break;
        if (!c->fields) {
            /* Fields for the next message: the parser must be at a message start here. */
            gale_http_server *srv = c->srv;
            c->fields = gale__http_fields_get(srv);
            if (!c->fields) {
                gale__http_conn_close(c, -ENOMEM);
                break;
            }
            gale_http_parser_set_fields(&c->parser, c->fields, srv->cfg.limits.max_headers);
        }
        int r = gale_http_parser_execute(&c->parser, c->in.data + c->in.off, q);
        if (r == GALE_HTTP_NEED_MORE) break;
        if (r == GALE_HTTP_ERROR) {
            gale__http_conn_error(c, c->parser.error_status, gale_http_reason(c->parser.error_status));
            break;
        }
        begin_request(c, (uint32_t)r);
    }
    /* Still "dispatching" through the tail: a close in here must not free c under us. */
    if (!c->dead && c->got_eof && c->req_active && !c->req.eof_told && !c->in_body && queued(c) == 0) {
        /* The client's EOF with a request in flight and nothing after it: tell the owner once
         * (the client has probably gone; a half-closed one still gets the answer). */
        gale_http_server *srv = c->srv;
        c->req.eof_told = 1;
        if (srv->cbs->on_peer_eof) {
            gale_loop *loop = srv->loop;
            gale__loop_defer_hold(loop);
            srv->cbs->on_peer_eof(&c->req, srv->ud);
            gale__loop_defer_unhold_and_run(loop);
        }
    }
    if (!c->dead) {
        gale_http_server *srv = c->srv;
        if (c->got_eof && !c->req_active && !c->closing) c->closing = 1; /* nothing more will come */
        if (gale__http_flush_output(c) == 0 && !c->dead) {
            /* A write returned 1, but the socket took the whole queue just now: no write event
             * will come to say so, so raise one; on_writable then runs from it as usual. */
            if (c->req_active && c->req.want_writable && gale__http_out_pending(c) <= srv->cfg.write_low_water)
                event_active(c->wev, EV_WRITE, 1);
            if (c->closing && !c->req_active) gale__http_conn_linger(c);
            if (!c->dead && !c->lingering) {
                /* Which deadline applies now. The head timeout runs from a request's first byte,
                 * so it is only reset when a request was served in between. */
                int want;
                /* A response held up by a client that does not read: the idle deadline, from
                 * the last progress (wrote_some), as for a finished response going out. */
                if (c->req_active) want = c->in_body && !c->req.body_paused ? TL_BODY : c->write_watch ? TL_IDLE : TL_NONE;
                else if (c->in_body) want = TL_BODY;
                else if (queued(c) > 0) want = TL_HEAD;
                else want = c->shutting ? TL_DRAIN : TL_IDLE;
                if (want != c->tlist || c->served || (want == TL_IDLE && c->idle_progress) ||
                    (want == TL_BODY && c->body_progress))
                    gale__http_timeout_set(c, want);
                c->served = c->body_progress = 0;
                /* Idle with nothing buffered: give the buffers back. */
                if (!c->req_active && !c->in_body && queued(c) == 0 && c->in.data) {
                    gale__http_buf_release(srv, &c->in);
                    if (c->fields) release_message(c, srv);
                }
                gale__http_conn_update_reading(c);
            }
        }
    }
    c->idle_progress = 0; /* consumed above, or moot: closed or lingering */
    c->dispatching = 0;
    maybe_free(c);
}

static void on_resume(void *arg) {
    gale_http_conn *c = arg;
    c->resume_queued = 0;
    if (c->dead) {
        maybe_free(c);
        return;
    }
    process(c);
}

void gale__http_conn_resume(gale_http_conn *c) {
    if (c->dead || c->dispatching || c->resume_queued) return;
    if (gale_loop_defer(c->srv->loop, on_resume, c) == 0) c->resume_queued = 1;
    else process(c); /* no memory to defer: do it now */
}

void gale__http_conn_request_done(gale_http_conn *c) {
    gale_http_request *req = &c->req;
    if (req->ud_free) req->ud_free(req->ud);
    req->ud = NULL;
    req->ud_free = NULL;
    c->req_active = 0;
    if (c->dead) {
        maybe_free(c);
        return;
    }
    gale_http_server *srv = c->srv;
    gale__http_buf_release(srv, &c->pinned);
    gale__http_buf_release(srv, &c->body);
    c->req_in_in = 0;
    if (c->in_body) c->close_after = 1; /* the rest of a body nobody read: cannot reuse */
    c->in_body = 0;
    gale_http_parser_reset(&c->parser);
    if (c->close_after || c->shutting) c->closing = 1;
    c->close_after = 0;
    if (c->in_deferred) pump(c);
    else gale__http_conn_resume(c);
}

/* ---- accepting -------------------------------------------------------------------------- */

void gale__http_conn_start(gale_http_server *srv, int fd, const gale_addr *peer) {
    size_t head = (sizeof(gale_http_conn) + 15u) & ~(size_t)15u, ev = gale__event_size();
    gale_http_conn *c = calloc(1, head + 2 * ev);
    if (!c) {
        gale__close_fd(fd);
        return;
    }
    c->rev = (struct event *)((char *)c + head);
    c->wev = (struct event *)((char *)c + head + ev);
    struct event_base *base = gale_loop_base(srv->loop);
    event_assign(c->rev, base, fd, EV_READ | EV_PERSIST, on_read, c);
    event_assign(c->wev, base, fd, EV_WRITE | EV_PERSIST, gale__http_on_write, c);
    c->fd = fd;
    c->srv = srv;
    c->peer = *peer;
    /* Once per connection: fields are lent to the parser only while a message is read. */
    gale_http_parser_init(&c->parser, GALE_HTTP_REQUEST, &srv->cfg.limits, NULL, 0);
    c->tlist = TL_NONE;
    c->cnext = srv->conns;
    if (srv->conns) srv->conns->cprev = c;
    srv->conns = c;
    srv->nconns++;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (srv->cfg.max_connections && srv->nconns - srv->nrefused > srv->cfg.max_connections) {
        c->refused = 1;
        srv->nrefused++;
        gale__http_conn_error(c, 503, "Service Unavailable");
        return;
    }
    gale__http_timeout_set(c, TL_HEAD); /* a new connection should speak soon */
    gale__http_conn_update_reading(c);
}

/* ---- the request's accessors ------------------------------------------------------------ */

static const gale_http_head *head_of(const gale_http_request *req) {
    /* The request is embedded in its connection, which outlives it. */
    const gale_http_conn *c = (const gale_http_conn *)((const char *)req - offsetof(gale_http_conn, req));
    return &c->parser.head;
}

static const gale_http_conn *conn_of(const gale_http_request *req) {
    return (const gale_http_conn *)((const char *)req - offsetof(gale_http_conn, req));
}

GALE_EXPORT gale_slice gale_http_request_method(const gale_http_request *req) {
    return gale_http_head_method(head_of(req), req->base);
}

GALE_EXPORT gale_slice gale_http_request_target(const gale_http_request *req) {
    return gale_http_head_target(head_of(req), req->base);
}

GALE_EXPORT gale_slice gale_http_request_path(const gale_http_request *req) {
    return gale_http_head_path(head_of(req), req->base);
}

GALE_EXPORT gale_slice gale_http_request_query(const gale_http_request *req) {
    const gale_http_head *h = head_of(req);
    gale_slice s = gale_http_slice(req->base, h->query_off, h->query_len);
    if (h->query_off == 0) s.len = 0;
    return s;
}

GALE_EXPORT int gale_http_request_version(const gale_http_request *req) {
    const gale_http_head *h = head_of(req);
    return h->version_major * 10 + h->version_minor;
}

GALE_EXPORT const gale_http_head *gale_http_request_parsed(const gale_http_request *req) { return head_of(req); }

GALE_EXPORT uint32_t gale_http_request_header_count(const gale_http_request *req) {
    return head_of(req)->num_fields;
}

GALE_EXPORT int gale_http_request_header(const gale_http_request *req, uint32_t i, gale_slice *name,
                                         gale_slice *value) {
    const gale_http_conn *c = conn_of(req);
    if (i >= c->parser.head.num_fields) return -EINVAL;
    *name = gale_http_field_name(&c->fields[i], req->base);
    *value = gale_http_field_value(&c->fields[i], req->base);
    return 0;
}

GALE_EXPORT int gale_http_request_find_header(const gale_http_request *req, const char *name, size_t name_len,
                                              gale_slice *value) {
    const gale_http_conn *c = conn_of(req);
    int i = gale_http_find_field(&c->parser, req->base, name, name_len, 0);
    if (i < 0) return 0;
    *value = gale_http_field_value(&c->fields[i], req->base);
    return 1;
}

GALE_EXPORT gale_slice gale_http_request_head(const gale_http_request *req) {
    gale_slice s = {req->base, conn_of(req)->head_len};
    return s;
}

GALE_EXPORT const gale_http_field *gale_http_request_fields(const gale_http_request *req, uint32_t *count) {
    const gale_http_conn *c = conn_of(req);
    *count = c->parser.head.num_fields;
    return c->fields;
}

GALE_EXPORT gale_slice gale_http_request_body(const gale_http_request *req) {
    if (!req->body.ptr) {
        gale_slice empty = {"", 0};
        return empty;
    }
    return req->body;
}

GALE_EXPORT int gale_http_request_keep_alive(const gale_http_request *req) {
    return gale__http_keep_alive(conn_of(req));
}

GALE_EXPORT const gale_addr *gale_http_request_peer(const gale_http_request *req) { return &conn_of(req)->peer; }

GALE_EXPORT void gale_http_request_pause_body(gale_http_request *req) {
    gale_http_conn *c = req->conn;
    if (!c || !c->in_body) return;
    req->body_paused = 1;
    gale__http_conn_update_reading(c);
}

GALE_EXPORT void gale_http_request_resume_body(gale_http_request *req) {
    gale_http_conn *c = req->conn;
    if (!c || !req->body_paused) return;
    req->body_paused = 0;
    gale__http_conn_update_reading(c);
    gale__http_conn_resume(c); /* deliver what is queued */
}

GALE_EXPORT void gale_http_request_set_ud(gale_http_request *req, void *ud, gale_free_fn free_fn) {
    if (req->ud_free && req->ud != ud) req->ud_free(req->ud);
    req->ud = ud;
    req->ud_free = free_fn;
}

GALE_EXPORT void *gale_http_request_ud(const gale_http_request *req) { return req->ud; }

GALE_EXPORT int gale_http_request_aborted(const gale_http_request *req) { return req->aborted; }

GALE_EXPORT void gale_http_request_set_connection_ud(gale_http_request *req, void *ud, gale_free_fn free_fn) {
    gale_http_conn *c = (gale_http_conn *)((char *)req - offsetof(gale_http_conn, req));
    if (c->conn_ud_free && c->conn_ud != ud) c->conn_ud_free(c->conn_ud);
    c->conn_ud = ud;
    c->conn_ud_free = free_fn;
}

GALE_EXPORT void *gale_http_request_connection_ud(const gale_http_request *req) { return conn_of(req)->conn_ud; }
