/* SPDX-License-Identifier: MIT */
/*
 * Accept spread across a group's loops. Either each member has a listening socket of
 * its own on the same port (SO_REUSEPORT: the kernel spreads connections), or one
 * socket is accepted on member 0 and each connection is handed to the member with
 * the least load through that member's inbox. A connection's work is the vow the
 * user's function returns: it counts as its member's load until it settles, and the
 * group cancels it when it stops.
 */
#include "group_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ACCEPT_BATCH 64 /* connections taken per readiness, so one loop cannot hog */
#define BACKOFF_MS 100  /* pause after running out of fds or memory in accept */

/* A listening socket on one member. */
struct vow__glisten_part {
    struct vow__qnode node;     /* on the member's listener list while it listens */
    struct vow__glisten *gl;    /* the listener it belongs to */
    struct vow__gmember *m;     /* where it is accepted */
    int fd;                     /* the socket; -1 once closed */
    int status;                 /* the install's result (read under g->mu) */
    vow_io w;                   /* readiness of fd */
    vow_timer backoff;          /* restarts w after a pause */
    struct vow__gmsg m_install; /* caller to member: start accepting */
    struct vow__gmsg m_remove;  /* caller to member: the listen failed, stop */
};

struct vow__glisten {
    struct vow__glisten *next;        /* on g->listens */
    vow_group *g;                     /* the group */
    vow_group_conn_fn fn;             /* the user's function */
    void *ctx;                        /* for fn */
    bool handoff;                     /* one socket on member 0, connections handed on */
    unsigned nparts;                  /* sockets */
    unsigned replies;                 /* members that answered (under g->mu) */
    int err;                          /* the first install failure (under g->mu) */
    struct vow__glisten_part parts[]; /* one per socket */
};

/* A connection placed on a member. */
struct conn {
    struct vow__gwork work;  /* on the member's work list until v settles */
    struct vow__gmember *m;  /* where it runs */
    struct vow__glisten *gl; /* whose fn makes its work */
    int fd;                  /* the connection, until fn has it */
    vow *v;                  /* the work (held) */
    struct vow__gmsg msg;    /* hand-off to m */
};

/* ------------------------------------------------------------- connections */

static void conn_end(struct conn *c)
{
    vow__gwork_remove(&c->work);
    atomic_fetch_sub_explicit(&c->m->load, 1, memory_order_relaxed);
    vow_unref(c->v);
    vow__free(c);
}

static vow_ret conn_ok(void *ctx, const vow_val *v)
{
    (void)v;
    conn_end(ctx);
    return vow_ok(vow_val_none());
}

static vow_ret conn_err(void *ctx, int code, const vow_val *detail)
{
    (void)code;
    (void)detail;
    conn_end(ctx);
    return vow_ok(vow_val_none());
}

/* The group stops: the connection's work is cancelled; its handler ends it later. */
static void conn_cancel(struct vow__gwork *w)
{
    struct conn *c = vow__container_of(w, struct conn, work);
    vow_cancel(c->v);
}

/* Runs fn on c's member (its thread) and tracks the vow it returns. */
static void conn_run(struct conn *c)
{
    struct vow__gmember *m = c->m;
    if (m->stopped) {
        close(c->fd);
        atomic_fetch_sub_explicit(&m->load, 1, memory_order_relaxed);
        vow__free(c);
        return;
    }
    vow *v = c->gl->fn(m->l, c->fd, c->gl->ctx);
    vow *d = NULL;
    if (v && vow_loop_of(v) == m->l) {
        c->v = v;
        d = vow_then_full(vow_ref(v), conn_ok, conn_err, c, NULL);
        if (!d)
            vow_unref(v); /* out of memory: the work goes on, untracked */
    }
    /* A vow of another loop is not ours to touch: left alone, untracked. */
    if (!d) {
        atomic_fetch_sub_explicit(&m->load, 1, memory_order_relaxed);
        vow__free(c);
        return;
    }
    vow_unref(d); /* the reaction keeps it */
    c->work.cancel = conn_cancel;
    vow__gwork_add(m, &c->work);
}

static void handoff_run(struct vow__gmember *m, struct vow__gmsg *msg)
{
    vow_group *g = m->g;
    conn_run(vow__container_of(msg, struct conn, msg));
    vow__group_busy(g, -1);
}

/* ------------------------------------------------------------------ accept */

static void accept_cb(vow_io *w, int fd, unsigned events)
{
    struct vow__glisten_part *part = w->data;
    struct vow__glisten *gl = part->gl;
    vow_group *g = gl->g;
    (void)events;
    for (int k = 0; k < ACCEPT_BATCH && part->fd >= 0; k++) {
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* The socket stays readable: pause instead of spinning on it. */
                vow_io_stop(&part->w);
                vow_timer_start(&part->backoff, BACKOFF_MS, 0);
            }
            return;
        }
        struct conn *c = vow__calloc(1, sizeof(*c));
        if (!c) {
            close(cfd); /* out of memory: this connection is refused */
            continue;
        }
        c->gl = gl;
        c->fd = cfd;
        c->m = gl->handoff ? vow__gmember_pick(g, VOW_GROUP_LEAST) : part->m;
        atomic_fetch_add_explicit(&c->m->load, 1, memory_order_relaxed);
        if (c->m == part->m) {
            conn_run(c);
        } else {
            c->msg.fn = handoff_run;
            vow__group_busy(g, 1); /* the target must run it before the release */
            vow__gmember_send(c->m, &c->msg);
        }
    }
}

static void backoff_cb(vow_timer *t)
{
    struct vow__glisten_part *part = t->data;
    if (part->fd >= 0)
        vow_io_start(&part->w, VOW_READABLE);
}

/* ------------------------------------------------------------ install, stop */

static void reply(struct vow__glisten *gl, int r)
{
    vow_group *g = gl->g;
    pthread_mutex_lock(&g->mu);
    if (r < 0 && gl->err == 0)
        gl->err = r;
    gl->replies++;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static void install_run(struct vow__gmember *m, struct vow__gmsg *msg)
{
    struct vow__glisten_part *part = vow__container_of(msg, struct vow__glisten_part, m_install);
    int r = m->stopped ? VOW_ECLOSED : vow_io_init(m->l, &part->w, part->fd, accept_cb);
    if (r == 0) {
        part->w.data = part;
        vow_timer_init(m->l, &part->backoff, backoff_cb);
        part->backoff.data = part;
        r = vow_io_start(&part->w, VOW_READABLE);
    }
    if (r == 0)
        vow__q_insert_tail(&m->listeners, &part->node);
    part->status = r;
    reply(part->gl, r);
}

/* Stops accepting on part (its member's thread); the fd is closed by the caller
 * (the listen failed) or here (the group stops). */
static void part_stop(struct vow__glisten_part *part)
{
    if (vow__q_linked(&part->node))
        vow__q_remove(&part->node);
    vow_io_stop(&part->w);
    vow_timer_stop(&part->backoff);
}

static void remove_run(struct vow__gmember *m, struct vow__gmsg *msg)
{
    struct vow__glisten_part *part = vow__container_of(msg, struct vow__glisten_part, m_remove);
    (void)m;
    if (vow__q_linked(&part->node))
        part_stop(part);
    reply(part->gl, 0);
}

void vow__glisten_stop(struct vow__gmember *m)
{
    while (!vow__q_empty(&m->listeners)) {
        struct vow__glisten_part *part =
            vow__container_of(m->listeners.next, struct vow__glisten_part, node);
        part_stop(part);
        close(part->fd);
        part->fd = -1;
    }
}

void vow__glisten_free_all(vow_group *g)
{
    struct vow__glisten *gl = g->listens;
    while (gl) {
        struct vow__glisten *next = gl->next;
        vow__free(gl);
        gl = next;
    }
    g->listens = NULL;
}

/* ----------------------------------------------------------------- sockets */

/* A listening socket on addr; -errno on failure (*refused: SO_REUSEPORT was). */
static int listen_socket(const struct sockaddr_storage *ss, socklen_t len, int backlog,
                         bool reuseport, bool *refused)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    int r = 0;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) {
        r = -errno;
    } else if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) {
        r = -errno;
        *refused = true;
    } else if (bind(fd, (const struct sockaddr *)ss, len) < 0 || listen(fd, backlog) < 0) {
        r = -errno;
    }
    if (r < 0) {
        close(fd);
        return r;
    }
    return fd;
}

static void set_port(struct sockaddr_storage *ss, int port)
{
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
}

static int bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -errno;
    return ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
                                   : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* Opens gl's sockets (falling back to one if SO_REUSEPORT is refused); the port, or
 * -errno with every fd closed. */
static int open_parts(struct vow__glisten *gl, struct sockaddr_storage *ss, socklen_t len, int port,
                      int backlog)
{
    for (unsigned i = 0; i < gl->nparts; i++) {
        bool refused = false;
        int fd = listen_socket(ss, len, backlog, !gl->handoff, &refused);
        if (fd < 0 && refused && i == 0) {
            gl->handoff = true;
            gl->nparts = 1;
            fd = listen_socket(ss, len, backlog, false, &refused);
        }
        if (fd >= 0 && port == 0) {
            port = bound_port(fd);
            if (port > 0)
                set_port(ss, port);
            else {
                close(fd);
                fd = port;
            }
        }
        if (fd < 0) {
            for (unsigned k = 0; k < i; k++)
                close(gl->parts[k].fd);
            return fd;
        }
        gl->parts[i].fd = fd;
    }
    return port;
}

/* Sends one message per part and waits until each member answered. */
static void ask_all(struct vow__glisten *gl, bool remove)
{
    vow_group *g = gl->g;
    pthread_mutex_lock(&g->mu);
    gl->replies = 0;
    pthread_mutex_unlock(&g->mu);
    for (unsigned i = 0; i < gl->nparts; i++) {
        struct vow__glisten_part *part = &gl->parts[i];
        vow__gmember_send(part->m, remove ? &part->m_remove : &part->m_install);
    }
    pthread_mutex_lock(&g->mu);
    while (gl->replies < gl->nparts)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

int vow_group_listen(vow_group *g, const char *host, int port, int backlog, unsigned flags,
                     vow_group_conn_fn fn, void *ctx)
{
    vow__check(g && host && fn, VOW_EINVAL);
    vow__check((flags & ~(unsigned)VOW_GROUP_HANDOFF) == 0, VOW_EINVAL);
    vow__check(port >= 0 && port <= 65535, VOW_EINVAL);
    struct sockaddr_storage ss;
    socklen_t len;
    vow__check(vow__inet_parse(host, port, &ss, &len) == 0, VOW_EINVAL);
    if (vow__gmember_self(g))
        return -EDEADLK;
    if (backlog <= 0)
        backlog = 128;
    /* The unit taken here keeps every member open until this call returns. */
    if (!vow__group_enter(g))
        return VOW_ECLOSED;
    bool handoff = (flags & VOW_GROUP_HANDOFF) != 0;
    unsigned n = handoff ? 1 : g->n;
    struct vow__glisten *gl = vow__calloc(1, sizeof(*gl) + n * sizeof(gl->parts[0]));
    int r = VOW_ENOMEM;
    if (!gl)
        goto out;
    gl->g = g;
    gl->fn = fn;
    gl->ctx = ctx;
    gl->handoff = handoff;
    gl->nparts = n;
    r = open_parts(gl, &ss, len, port, backlog);
    if (r < 0) {
        vow__free(gl);
        goto out;
    }
    for (unsigned i = 0; i < gl->nparts; i++) {
        struct vow__glisten_part *part = &gl->parts[i];
        part->gl = gl;
        part->m = &g->m[i];
        part->m_install.fn = install_run;
        part->m_remove.fn = remove_run;
    }
    ask_all(gl, false);
    if (gl->err < 0) {
        int err = gl->err;
        ask_all(gl, true);
        for (unsigned i = 0; i < gl->nparts; i++) {
            if (gl->parts[i].fd >= 0)
                close(gl->parts[i].fd);
        }
        vow__free(gl);
        r = err;
        goto out;
    }
    pthread_mutex_lock(&g->mu);
    gl->next = g->listens;
    g->listens = gl;
    pthread_mutex_unlock(&g->mu);
out:
    vow__group_busy(g, -1);
    return r;
}
