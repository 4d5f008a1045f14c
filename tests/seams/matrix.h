/* SPDX-License-Identifier: MIT */
/*
 * The tables of the cancellation matrix: a cell is one producer kind (producers.c)
 * consumed by one consumer kind and let go of in one way (test-matrix.c).
 */
#ifndef VOW_SEAMS_MATRIX_H
#define VOW_SEAMS_MATRIX_H

#include "seams.h"

#define HOUR ((uint64_t)3600 * 1000)
/* Timer producers of rooted cells, which must complete on their own. */
#define SOON 2

struct cell;

/* Producer flags. */
enum {
    P_HOOK = 1u << 0,       /* has an abort hook of the test's: it must run once, at once */
    P_FD_VALUE = 1u << 1,   /* fulfils with an fd (the consumer closes it) */
    P_AT_ONCE = 1u << 2,    /* settles inside the call (a Unix connect never pends) */
    P_KILL = 1u << 3,       /* spawn with VOW_SPAWN_KILL_ON_CANCEL */
    P_ROOTED_FAST = 1u << 4, /* in rooted cells it may complete before the way */
    P_SIGNAL = 1u << 5       /* completes through a signal under Valgrind (see main) */
};

/*
 * A producer kind. Only start is required; a missing step does nothing.
 *   setup     before the consumer is made: sockets, listeners, streams
 *   start     the operation (a new reference); may run inside a coroutine
 *   poke      withdrawal cells, right after the way (the buffer is already released):
 *             the outside world acts as if the operation were still there
 *   withdrawn withdrawal cells, after the ready work ran: nothing happened
 *   armed     rooted cells, after the drop: the operation is still under way
 *   finish    rooted cells: make the operation complete
 *   pump      rooted cells, before each loop turn until the consumer saw it
 *   finished  rooted cells, once the consumer saw it: what the operation did
 *   take      a consumer got the fulfilment value
 *   cleanup   close what setup made
 */
struct producer {
    const char *name;
    unsigned flags;
    void (*setup)(struct cell *c);
    vow *(*start)(struct cell *c);
    void (*poke)(struct cell *c);
    void (*withdrawn)(struct cell *c);
    void (*armed)(struct cell *c);
    void (*finish)(struct cell *c);
    void (*pump)(struct cell *c);
    void (*finished)(struct cell *c);
    void (*take)(struct cell *c, const vow_val *v);
    void (*cleanup)(struct cell *c);
};

/* Consumer flags. */
enum {
    C_CORO = 1u << 0,         /* a coroutine consumes (vow_co_cancel_all applies) */
    C_ROOTED = 1u << 1,       /* user code: dropping its vow withdraws nothing */
    C_PASS = 1u << 2,         /* its value is the producer's value */
    C_LIST = 1u << 3,         /* its value is a list holding the producer's value */
    C_INNER_TIMEOUT = 1u << 4 /* the coroutine awaits vow_timeout(operation, HOUR) */
};

/*
 * A consumer kind.
 *   make      consumes start(c) and returns the consumer's vow
 *   withdrawn withdrawal cells: what the consumer's own code saw
 *   completed rooted cells: what it saw when the producer completed
 *   done      rooted cells: the counter that says the consumer saw the completion
 *             (NULL: run until the loop has nothing left)
 */
struct consumer {
    const char *name;
    unsigned flags;
    vow *(*make)(struct cell *c);
    void (*withdrawn)(struct cell *c);
    void (*completed)(struct cell *c);
    int *(*done)(struct cell *c);
};

enum { WAY_CANCEL, WAY_DROP, WAY_TIMEOUT, WAY_CANCEL_ALL, N_WAYS };
static const char *const way_names[N_WAYS] = {"cancel", "drop", "timeout", "cancel_all"};

/* One cell and everything its run touches. */
struct cell {
    const struct producer *prod; /* the row */
    const struct consumer *cons; /* the column */
    int way;                     /* enum WAY_* */
    char name[80];               /* "producer x consumer x way" */
    vow_loop *l;                 /* the cell's loop */
    int rooted;                  /* the way withdraws nothing (C_ROOTED x drop) */
    int settled_before;          /* the consumer had settled before the way */
    vow *w;                      /* the timeout way's wrapper, while held */
    int unhandled;               /* unhandled rejections other than w's */
    unsigned char fds0[1024];    /* fds open when the cell started */
    /* producer state */
    int fd;             /* the producer's end of a socketpair, or -1 */
    int peer;           /* the test's end, or -1 */
    unsigned char *buf; /* the buffer handed to the operation (heap), or NULL */
    int released;       /* buf was released after the way (seam_release) */
    size_t len;         /* its length */
    vow_stream *stream; /* stream producers */
    vow_lines *lines;   /* the line reader */
    vow_ticker *ticker; /* the ticker */
    int lfd;            /* a listening socket, or -1 */
    int filler;         /* the connection that fills a listener's backlog, or -1 */
    int client;         /* a client connected by the test, or -1 */
    int port;           /* lfd's port */
    char dir[64];       /* temp dir of the Unix socket */
    char path[108];     /* the Unix socket */
    int pid;            /* spawned child, 0 once reaped */
    vow_remote *remote; /* the remote producer's settler until used */
    vow *user_p;        /* the user producer's own reference */
    int hook_runs;      /* the test's abort hook ran */
    int value_drops;    /* drops of the value the remote settled with */
    int value_given;    /* a tracked value was handed to the remote */
    int prod_done;      /* the producer coroutine finished */
    int prod_rc;        /* what its vow_await returned */
    int taken;          /* fulfilment values a consumer took */
    long peer_total;    /* bytes the peer read (write producers) */
    /* consumer state */
    int ran;       /* handler calls (then, catch, finally) */
    int dropped;   /* ctx_drop calls (then) */
    int cons_done; /* the consumer coroutine finished */
    int cons_rc;   /* what its vow_await returned */
};

/* The producer kinds, in the order of the matrix's rows. */
extern const struct producer seam_producers[];
extern const size_t seam_n_producers;

#endif /* VOW_SEAMS_MATRIX_H */
