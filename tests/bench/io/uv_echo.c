/* SPDX-License-Identifier: MIT */
/*
 * The libuv peer of the echo benchmark, written the efficient way: one reused buffer
 * per connection, uv_try_write first, and a queued uv_write (with reading paused)
 * only for what the kernel did not take. Prints "port=N"; runs until killed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

#define CHUNK 65536

struct conn {
    uv_tcp_t tcp;      /* first: the handle is the connection */
    uv_write_t req;    /* the one queued write, when the kernel was full */
    char buf[CHUNK];   /* reused for every read */
};

static void on_close(uv_handle_t *h)
{
    free(h);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct conn *c = (struct conn *)h;
    (void)hint;
    *buf = uv_buf_init(c->buf, sizeof(c->buf));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void on_written(uv_write_t *req, int status)
{
    struct conn *c = req->data;
    if (status < 0) {
        uv_close((uv_handle_t *)&c->tcp, on_close);
        return;
    }
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct conn *c = (struct conn *)s;
    if (n < 0) {
        uv_close((uv_handle_t *)s, on_close);
        return;
    }
    if (n == 0)
        return;
    uv_buf_t b = uv_buf_init(buf->base, (unsigned)n);
    int w = uv_try_write(s, &b, 1);
    if (w == n)
        return;
    if (w < 0 && w != UV_EAGAIN) {
        uv_close((uv_handle_t *)s, on_close);
        return;
    }
    if (w > 0) {
        b.base += w;
        b.len -= (size_t)w;
    }
    /* The buffer is reused by the next read: pause reading until the write is done. */
    uv_read_stop(s);
    c->req.data = c;
    if (uv_write(&c->req, s, &b, 1, on_written) < 0)
        uv_close((uv_handle_t *)s, on_close);
}

static void on_conn(uv_stream_t *server, int status)
{
    if (status < 0)
        return;
    struct conn *c = malloc(sizeof(*c));
    if (!c)
        return;
    uv_tcp_init(server->loop, &c->tcp);
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
        uv_close((uv_handle_t *)&c->tcp, on_close);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

int main(void)
{
    uv_loop_t *loop = uv_default_loop();
    uv_tcp_t server;
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", 0, &addr);
    uv_tcp_init(loop, &server);
    if (uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0) < 0 ||
        uv_listen((uv_stream_t *)&server, 128, on_conn) < 0)
        return 1;
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    uv_tcp_getsockname(&server, (struct sockaddr *)&ss, &len);
    printf("port=%d\n", ntohs(((struct sockaddr_in *)&ss)->sin_port));
    fflush(stdout);
    return uv_run(loop, UV_RUN_DEFAULT);
}
